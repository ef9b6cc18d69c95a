//! The listener: accepting connections, TLS, and HTTP/2 with limits, in front of the
//! gRPC services. tonic's own server has no hook for what a server facing the internet
//! needs per connection, so Tessera drives each connection with hyper itself:
//!
//! - **Accepting** ([`accept`]): when `accept` fails because descriptors (or socket
//!   memory) ran out, the loop backs off from 10 ms doubling to 1 s instead of spinning,
//!   and logs one warning per episode.
//! - **Handshake deadline** ([`preface`]): a connection must finish its TLS handshake and
//!   send the HTTP/2 connection preface within `handshake_timeout`, or it is closed.
//! - **TLS** ([`tls`]): PEM certificate and key, re-read when the files change (new
//!   connections get the new certificate); optionally client certificates checked
//!   against a CA, the peer's certificate put into each request's extensions as a
//!   [`ClientCertificate`].
//! - **HTTP/2** ([`connection`]): `SETTINGS_MAX_CONCURRENT_STREAMS` advertised (and
//!   enforced with `REFUSED_STREAM`), a bounded send buffer per stream, keepalive pings
//!   that close connections whose peer vanished, and an idle timeout: a connection with
//!   no call in flight for `idle_timeout` is closed with a GOAWAY (clients reconnect on
//!   their next call). A connection with a call open, such as a `WatchEvents` stream
//!   waiting for events, is never idle.
//!
//! Each request also carries tonic's `TcpConnectInfo` (so `Request::remote_addr` works)
//! and honours the caller's `grpc-timeout`.

pub mod accept;
pub mod connection;
pub mod preface;
pub mod tls;

use self::{accept::AcceptBackoff, tls::ReloadingTls};
use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tonic::{body::Body, codegen::http};
use tower::Service;

pub use self::connection::ClientCertificate;

/// The most an HTTP/2 stream buffers for a peer that does not read, in bytes (hyper's
/// default is 400 KiB). A stream that filled it waits, so a watcher that stopped reading
/// holds at most this much here plus its few queued messages.
pub const STREAM_SEND_BUFFER_BYTES: usize = 64 * 1024;

/// Limits and timeouts of the listener (the transport part of [`crate::Settings`]).
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// How long a new connection has to finish its TLS handshake and send the HTTP/2
    /// preface.
    pub handshake_timeout: Duration,
    /// How long a connection with no call in flight stays open; `None` for ever.
    pub idle_timeout: Option<Duration>,
    /// How often a quiet connection is pinged; `None` for never.
    pub keepalive_interval: Option<Duration>,
    /// How long a ping may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`: calls open at once on one connection.
    pub max_concurrent_streams: u32,
}

/// What the listener serves each call with: the gRPC routes behind the server's layers.
pub trait GrpcService:
    Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> GrpcService for S where
    S: Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Accepts connections on `listener` and serves `service` on them until `shutdown`
/// completes; then stops accepting, asks every connection to finish (GOAWAY: calls in
/// flight complete, new ones go elsewhere) and returns once all are closed. Dropping the
/// returned future closes every connection at once.
pub async fn serve<S: GrpcService>(
    listener: TcpListener,
    settings: TransportSettings,
    tls: Option<Arc<ReloadingTls>>,
    service: S,
    shutdown: impl Future<Output = ()>,
) {
    let settings = Arc::new(settings);
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut backoff = AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            // Reap finished connections as they go, so the set stays as large as the
            // number of open connections.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff.succeeded();
                    connections.spawn(connection::run(
                        stream,
                        peer,
                        settings.clone(),
                        tls.clone(),
                        service.clone(),
                        stopping.clone(),
                    ));
                }
                Err(error) => {
                    if let Some(pause) = backoff.failed(&error) {
                        tokio::select! {
                            _ = &mut shutdown => break,
                            _ = tokio::time::sleep(pause) => {}
                        }
                    }
                }
            },
        }
    }
    // Closing the listening socket at once: new clients are refused rather than left
    // waiting in the backlog while the open connections drain.
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}
