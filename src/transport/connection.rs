//! One accepted connection, from TLS handshake to close: HTTP/2 with the server's limits,
//! the idle timeout, and what each request learns of its connection.

use super::{
    GrpcService, STREAM_SEND_BUFFER_BYTES, TransportSettings, preface::PrefaceDeadline,
    tls::ReloadingTls,
};
use crate::error::Error;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    sync::watch,
    time::Instant,
};
use tonic::{Status, body::Body, codegen::http, transport::server::TcpConnectInfo};
use tower::ServiceExt;

/// The client certificate a peer presented in the TLS handshake (its end-entity
/// certificate, already verified against `--tls-client-ca`), in the extensions of each of
/// the connection's requests.
#[derive(Debug, Clone)]
pub struct ClientCertificate(Arc<[u8]>);

impl ClientCertificate {
    /// The certificate, DER-encoded.
    pub fn der(&self) -> &[u8] {
        &self.0
    }
}

/// Serves one accepted connection until it closes, the server stops (`stopping` turns
/// true: GOAWAY, calls in flight finish) or it stays idle too long.
pub(super) async fn run<S: GrpcService>(
    stream: TcpStream,
    peer: SocketAddr,
    settings: Arc<TransportSettings>,
    tls: Option<Arc<ReloadingTls>>,
    service: S,
    mut stopping: watch::Receiver<bool>,
) {
    let deadline = Instant::now() + settings.handshake_timeout;
    let _ = stream.set_nodelay(true);
    let connect_info = TcpConnectInfo {
        local_addr: stream.local_addr().ok(),
        remote_addr: Some(peer),
    };
    let Some(tls) = tls else {
        let io = PrefaceDeadline::new(stream, deadline);
        return serve_http2(io, connect_info, None, &settings, service, stopping).await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
    let handshake = tokio::time::timeout_at(deadline, acceptor.accept(stream));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "no TLS handshake before the deadline");
                return;
            }
        },
        _ = stopping.wait_for(|stop| *stop) => return,
    };
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| ClientCertificate(Arc::from(leaf.as_ref())));
    let io = PrefaceDeadline::new(stream, deadline);
    serve_http2(io, connect_info, certificate, &settings, service, stopping).await
}

async fn serve_http2<IO, S>(
    io: IO,
    connect_info: TcpConnectInfo,
    certificate: Option<ClientCertificate>,
    settings: &TransportSettings,
    service: S,
    mut stopping: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: GrpcService,
{
    let peer = connect_info.remote_addr;
    let (open_calls, calls) = watch::channel(0usize);
    let service = ConnectionService {
        inner: service,
        connect_info,
        certificate,
        open_calls: Arc::new(open_calls),
    };
    // HTTP/2 for gRPC; HTTP/1.1 too, for browsers (gRPC-Web and the account page, see
    // `web`), told apart by the HTTP/2 preface.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.handshake_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(settings.max_concurrent_streams)
        .max_send_buf_size(STREAM_SEND_BUFFER_BYTES)
        .keep_alive_interval(settings.keepalive_interval)
        .keep_alive_timeout(settings.keepalive_timeout);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let idle = idle_for(calls.clone(), settings.idle_timeout);
    tokio::pin!(idle);
    // After an idle GOAWAY, h2 waits for the answer to a ping before it closes; a peer
    // that never answers is cut once no call is open and a ping would have timed out.
    let mut calls_after_goaway = calls;
    let keepalive_timeout = settings.keepalive_timeout;
    let cut = async move {
        tokio::time::sleep(keepalive_timeout).await;
        let _ = calls_after_goaway.wait_for(|open| *open == 0).await;
    };
    tokio::pin!(cut);
    let mut idle_closing = false;
    let mut closing = false;
    loop {
        tokio::select! {
            served = &mut connection => {
                if let Err(error) = served {
                    tracing::debug!(?peer, %error, "connection ended");
                }
                return;
            }
            _ = &mut idle, if !closing => {
                closing = true;
                idle_closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = &mut cut, if idle_closing => {
                tracing::debug!(?peer, "the peer did not finish closing an idle connection");
                return;
            }
            _ = stopping.wait_for(|stop| *stop), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Completes once no call has been open on the connection for `timeout` (never when
/// `None`). `calls` counts the open calls.
async fn idle_for(mut calls: watch::Receiver<usize>, timeout: Option<Duration>) {
    let Some(timeout) = timeout else {
        return std::future::pending().await;
    };
    loop {
        if calls.wait_for(|open| *open == 0).await.is_err() {
            return std::future::pending().await;
        }
        tokio::select! {
            _ = tokio::time::sleep(timeout) => {
                if *calls.borrow() == 0 {
                    return;
                }
            }
            // A call opened (and maybe closed again): start over.
            changed = calls.changed() => if changed.is_err() {
                return std::future::pending().await;
            },
        }
    }
}

/// The connection's view of the server's service: puts the connection's facts into each
/// request, counts open calls, and applies the caller's `grpc-timeout`.
#[derive(Clone)]
struct ConnectionService<S> {
    inner: S,
    connect_info: TcpConnectInfo,
    certificate: Option<ClientCertificate>,
    open_calls: Arc<watch::Sender<usize>>,
}

impl<S: GrpcService> hyper::service::Service<http::Request<Incoming>> for ConnectionService<S> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(self.connect_info.clone());
        if let Some(certificate) = &self.certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        let call = OpenCall::new(self.open_calls.clone());
        let deadline = grpc_timeout(request.headers());
        let answer = self.inner.clone().oneshot(request);
        Box::pin(async move {
            let answered = match deadline {
                None => answer.await,
                Some(deadline) => match tokio::time::timeout(deadline, answer).await {
                    Ok(answered) => answered,
                    Err(_) => Ok(Status::from(Error::DeadlineExceeded).into_http()),
                },
            };
            // The call stays open until its response body is finished or dropped.
            answered.map(|response| response.map(|body| Body::new(CallBody { body, _call: call })))
        })
    }
}

/// One open call of a connection, for the idle timeout.
struct OpenCall(Arc<watch::Sender<usize>>);

impl OpenCall {
    fn new(open_calls: Arc<watch::Sender<usize>>) -> Self {
        open_calls.send_modify(|open| *open += 1);
        Self(open_calls)
    }
}

impl Drop for OpenCall {
    fn drop(&mut self) {
        self.0.send_modify(|open| *open -= 1);
    }
}

/// A response body that keeps its call counted as open.
struct CallBody {
    body: Body,
    _call: OpenCall,
}

impl http_body::Body for CallBody {
    type Data = <Body as http_body::Body>::Data;
    type Error = <Body as http_body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The caller's deadline from the `grpc-timeout` header (gRPC over HTTP/2: at most eight
/// digits and a unit), or `None` when absent or malformed.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let split = value.len().checked_sub(1)?;
    let (amount, unit) = value.split_at(split);
    if amount.is_empty() || amount.len() > 8 || !amount.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = amount.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout_of(value: &str) -> Option<Duration> {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", value.parse().unwrap());
        grpc_timeout(&headers)
    }

    #[test]
    fn grpc_timeouts_are_read_in_every_unit() {
        assert_eq!(timeout_of("3H"), Some(Duration::from_secs(3 * 3600)));
        assert_eq!(timeout_of("2M"), Some(Duration::from_secs(120)));
        assert_eq!(timeout_of("5S"), Some(Duration::from_secs(5)));
        assert_eq!(timeout_of("250m"), Some(Duration::from_millis(250)));
        assert_eq!(timeout_of("7u"), Some(Duration::from_micros(7)));
        assert_eq!(
            timeout_of("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
    }

    #[test]
    fn malformed_grpc_timeouts_are_ignored() {
        for value in ["", "S", "123456789S", "10x", "-1S", "1.5S", "+1S"] {
            assert_eq!(timeout_of(value), None, "{value:?}");
        }
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }
}
