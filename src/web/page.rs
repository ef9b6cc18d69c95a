//! Serves the embedded account page: `GET /account` (and `/account/`) is the page,
//! `/account/assets/…` its script and style sheet, `/` redirects to the page. Every other
//! request goes on to the API. Browsers revalidate every file (`no-cache` with an ETag),
//! so a new server's page is picked up at once; the page runs under a Content Security
//! Policy that allows only its own script, style sheet and API.

use super::assets::{ASSETS, Asset};
use sha2::{Digest, Sha256};
use std::{
    future::Future,
    pin::Pin,
    sync::LazyLock,
    task::{Context, Poll},
};
use tonic::{
    body::Body,
    codegen::http::{self, HeaderValue, Method, StatusCode, header},
};
use tower::Service;

/// Where the page is served.
pub const PAGE_PATH: &str = "/account";

/// What the page may load and call: its own files and its own origin's API, nothing
/// inline, and no framing by other sites.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// One strong ETag per asset, in [`ASSETS`] order.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.body);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
        })
        .collect()
});

/// The page in front of the API (see the module's documentation).
#[derive(Debug, Clone)]
pub struct AccountPage<S> {
    inner: S,
}

impl<S> AccountPage<S> {
    /// The page in front of `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

/// What a `GET` or `HEAD` of `path` is answered with, if the page answers it.
enum Answer {
    Asset(usize),
    ToPage,
    Missing,
}

fn answer_for(path: &str) -> Option<Answer> {
    if path == "/" {
        return Some(Answer::ToPage);
    }
    let path = if path == "/account/" { PAGE_PATH } else { path };
    if let Some(index) = ASSETS.iter().position(|asset| asset.path == path) {
        return Some(Answer::Asset(index));
    }
    path.starts_with("/account/").then_some(Answer::Missing)
}

impl<S, B> Service<http::Request<B>> for AccountPage<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let reads = matches!(*request.method(), Method::GET | Method::HEAD);
        match answer_for(request.uri().path()).filter(|_| reads) {
            Some(answer) => {
                let response = respond(answer, &request);
                Box::pin(std::future::ready(Ok(response)))
            }
            None => Box::pin(self.inner.call(request)),
        }
    }
}

fn respond<B>(answer: Answer, request: &http::Request<B>) -> http::Response<Body> {
    let mut response = http::Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    match answer {
        Answer::ToPage => {
            *response.status_mut() = StatusCode::SEE_OTHER;
            response
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static(PAGE_PATH));
        }
        Answer::Missing => {
            *response.status_mut() = StatusCode::NOT_FOUND;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            if request.method() == Method::GET {
                *response.body_mut() = Body::new(full(b"not found\n"));
            }
        }
        Answer::Asset(index) => {
            let asset: &Asset = &ASSETS[index];
            let etag = &ETAGS[index];
            let headers = response.headers_mut();
            headers.insert(header::ETAG, etag.clone());
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            );
            if index == 0 {
                headers.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CONTENT_SECURITY_POLICY),
                );
                headers.insert(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                );
                headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            }
            let unchanged = request
                .headers()
                .get_all(header::IF_NONE_MATCH)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|list| list.split(','))
                .any(|tag| tag.trim() == etag || tag.trim() == "*");
            if unchanged {
                *response.status_mut() = StatusCode::NOT_MODIFIED;
            } else {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.body.len()));
                if request.method() == Method::GET {
                    *response.body_mut() = Body::new(full(asset.body));
                }
            }
        }
    }
    response
}

fn full(bytes: &'static [u8]) -> http_body_util::Full<bytes::Bytes> {
    http_body_util::Full::new(bytes::Bytes::from_static(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_its_files_and_nothing_else_are_answered() {
        assert!(matches!(answer_for("/account"), Some(Answer::Asset(0))));
        assert!(matches!(answer_for("/account/"), Some(Answer::Asset(0))));
        assert!(matches!(
            answer_for("/account/assets/account.js"),
            Some(Answer::Asset(_))
        ));
        assert!(matches!(answer_for("/"), Some(Answer::ToPage)));
        assert!(matches!(
            answer_for("/account/../etc/passwd"),
            Some(Answer::Missing)
        ));
        assert!(answer_for("/tessera.v1.AccountService/SignIn").is_none());
        assert!(answer_for("/accounts").is_none());
    }
}
