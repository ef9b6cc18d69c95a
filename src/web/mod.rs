//! The browser's way in. Browsers cannot speak gRPC over HTTP/2, so `tessera serve` also
//! speaks gRPC-Web (tonic-web) over HTTP/1.1: the account page calls the same services,
//! through the same authentication, error mapping and limits, as the apps and carriers.
//! The page itself — built from `web/` by Vite and embedded in the binary — is served at
//! [`page::PAGE_PATH`]. Same origin by default; pages on other origins may call the API
//! only when `--cors-origin` names them.
//!
//! [`WebLayer`] is one tower layer around the gRPC routes: the page first (it answers
//! `GET /account…` itself), then CORS when configured, then the gRPC-Web translation.

mod assets;
pub mod page;

use self::page::AccountPage;
use std::{str::FromStr, time::Duration};
use tonic::codegen::http::{HeaderName, HeaderValue, Method};
use tonic_web::{GrpcWebLayer, GrpcWebService};
use tower::{Layer, util::Either};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

/// A web origin allowed to call the API from its pages: a scheme and a host with an
/// optional port, like `https://shop.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOrigin(HeaderValue);

impl FromStr for CorsOrigin {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        // Browsers send the origin lower-cased, without a trailing slash.
        let origin = raw.trim().trim_end_matches('/').to_ascii_lowercase();
        let host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let well_formed = host.is_some_and(|host| {
            !host.is_empty()
                && host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        });
        match HeaderValue::from_str(&origin) {
            Ok(value) if well_formed => Ok(Self(value)),
            _ => Err(format!(
                "a CORS origin is a scheme and a host with an optional port, like \
                 https://shop.example.com (got {raw:?})"
            )),
        }
    }
}

/// The headers a gRPC-Web client sends, and those its script must be able to read.
const REQUEST_HEADERS: [&str; 5] = [
    "content-type",
    "authorization",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
];
const RESPONSE_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// The page, CORS when configured, and gRPC-Web, around the gRPC routes.
#[derive(Debug, Clone)]
pub struct WebLayer {
    cors: Option<CorsLayer>,
}

impl WebLayer {
    /// The layer; CORS only when `origins` names some.
    pub fn new(origins: &[CorsOrigin]) -> Self {
        let cors = (!origins.is_empty()).then(|| {
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(
                    origins.iter().map(|origin| origin.0.clone()),
                ))
                .allow_methods([Method::POST])
                .allow_headers(REQUEST_HEADERS.map(HeaderName::from_static))
                .expose_headers(RESPONSE_HEADERS.map(HeaderName::from_static))
                .max_age(Duration::from_secs(600))
        });
        Self { cors }
    }
}

/// What [`WebLayer`] makes of the gRPC routes `S`.
pub type WebService<S> = AccountPage<Either<Cors<GrpcWebService<S>>, GrpcWebService<S>>>;

impl<S> Layer<S> for WebLayer {
    type Service = WebService<S>;

    fn layer(&self, routes: S) -> Self::Service {
        let grpc_web = GrpcWebLayer::new().layer(routes);
        let inner = match &self.cors {
            Some(cors) => Either::Left(cors.layer(grpc_web)),
            None => Either::Right(grpc_web),
        };
        AccountPage::new(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_a_scheme_and_a_host() {
        for good in [
            "https://shop.example.com",
            "http://localhost:5173",
            "HTTPS://Shop.Example.com/",
        ] {
            assert!(good.parse::<CorsOrigin>().is_ok(), "{good} refused");
        }
        for bad in [
            "",
            "*",
            "shop.example.com",
            "https://",
            "https://shop.example.com/account",
            "ftp://shop.example.com",
            "https://shop example.com",
        ] {
            assert!(bad.parse::<CorsOrigin>().is_err(), "{bad} accepted");
        }
    }
}
