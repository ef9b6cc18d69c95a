//! `tessera health`: asks a running server's `grpc.health.v1.Health/Check`, for a
//! container's HEALTHCHECK or any probe that runs a command. Exits 0 only on SERVING.

use crate::{
    error::{Error, Result},
    settings::Settings,
};
use std::{net::SocketAddr, time::Duration};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Asks `endpoint` (by default this machine's `--listen` port) whether `service` (empty:
/// the server as a whole) is serving, and prints `SERVING` on `out` when it is.
/// Errors: `Internal`, saying what the server answered or why it could not be asked.
pub async fn health(
    settings: &Settings,
    endpoint: Option<String>,
    service: String,
    timeout: Duration,
    out: &mut impl std::io::Write,
) -> Result<()> {
    let endpoint = endpoint.unwrap_or_else(|| local_endpoint(settings.listen));
    let unreachable = |e: &dyn std::fmt::Display| {
        Error::Internal(format!("cannot ask {endpoint} whether it serves: {e}"))
    };
    let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())
        .map_err(|e| unreachable(&e))?
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect()
        .await
        .map_err(|e| unreachable(&e))?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.clone(),
        })
        .await
        .map_err(|status| unreachable(&format!("{}: {}", status.code(), status.message())))?
        .into_inner();
    let status = ServingStatus::try_from(answer.status).unwrap_or(ServingStatus::Unknown);
    if status == ServingStatus::Serving {
        writeln!(out, "SERVING").map_err(super::io)
    } else {
        let what = if service.is_empty() {
            "the server".to_owned()
        } else {
            service
        };
        Err(Error::Internal(format!(
            "{endpoint} answers {} for {what}",
            status.as_str_name()
        )))
    }
}

/// `http://` and the listening address, with a wildcard address (0.0.0.0, ::) replaced
/// by the loopback address of its family.
fn local_endpoint(listen: SocketAddr) -> String {
    let mut address = listen;
    if address.ip().is_unspecified() {
        address.set_ip(match listen {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{address}")
}

#[cfg(test)]
mod tests {
    use super::local_endpoint;

    #[test]
    fn a_wildcard_listen_address_is_probed_on_loopback() {
        assert_eq!(
            local_endpoint("0.0.0.0:50051".parse().unwrap()),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            local_endpoint("[::]:7000".parse().unwrap()),
            "http://[::1]:7000"
        );
        assert_eq!(
            local_endpoint("10.1.2.3:50051".parse().unwrap()),
            "http://10.1.2.3:50051"
        );
    }
}
