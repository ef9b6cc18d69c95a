//! The handshake deadline: hyper waits for a client's HTTP/2 connection preface for ever,
//! so a peer that connects and sends nothing would hold a descriptor for good.
//! [`PrefaceDeadline`] wraps a connection's I/O and fails its reads once the deadline
//! passes before the 24 bytes of the preface (`PRI * HTTP/2.0…`) have arrived; hyper then
//! drops the connection. After the preface it is a plain pass-through.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// Length of the HTTP/2 client connection preface (RFC 9113, section 3.4).
pub const PREFACE_LEN: usize = 24;

/// I/O whose reads fail with `TimedOut` if the preface is not read by a deadline.
#[derive(Debug)]
pub struct PrefaceDeadline<T> {
    inner: T,
    /// Preface bytes still expected.
    missing: usize,
    /// Set until the preface is complete.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> PrefaceDeadline<T> {
    /// `inner`, which must deliver the preface before `deadline`.
    pub fn new(inner: T, deadline: Instant) -> Self {
        Self {
            inner,
            missing: PREFACE_LEN,
            deadline: Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for PrefaceDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.deadline.is_some() {
                    let read = buf.filled().len() - before;
                    this.missing = this.missing.saturating_sub(read);
                    if this.missing == 0 {
                        this.deadline = None;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                let expired = match &mut this.deadline {
                    Some(deadline) => deadline.as_mut().poll(cx).is_ready(),
                    None => false,
                };
                if expired {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no HTTP/2 preface before the handshake deadline",
                    )))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for PrefaceDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A deadline short enough for a unit test (real time: tokio's paused clock is not
    /// enabled in this crate).
    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[tokio::test]
    async fn a_peer_that_sends_nothing_times_out() {
        let (_client, server) = tokio::io::duplex(64);
        let mut io = PrefaceDeadline::new(server, soon());
        let error = io.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_partial_preface_times_out_too() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut io = PrefaceDeadline::new(server, soon());
        client.write_all(b"PRI * HTTP/2.0").await.unwrap();
        let mut buf = [0; 64];
        assert_eq!(io.read(&mut buf).await.unwrap(), 14);
        let error = io.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn after_the_preface_a_quiet_peer_is_left_alone() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut io = PrefaceDeadline::new(server, soon());
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0; 64];
        assert_eq!(io.read(&mut buf).await.unwrap(), PREFACE_LEN);
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.write_all(b"more").await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 4);
    }
}
