//! How many `WatchEvents` streams each caller may hold open at once. Every open stream
//! keeps a task, a database cursor and buffers on the server; a caller with many has a
//! bug or means harm, so the next one is refused with `RESOURCE_EXHAUSTED`
//! (WATCH_STREAM_LIMIT_REACHED, with a `QuotaFailure` naming the caller) until one closes.
//! A [`StreamPermit`] travels inside the response stream and gives its place back when the
//! stream is dropped, however it ended.

use crate::{
    domain::principal::Principal,
    error::{Error, Reason, Result},
};
use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};
use tokio_stream::Stream;

/// Open streams per caller, up to a limit.
#[derive(Debug, Clone)]
pub struct StreamQuota {
    limit: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl StreamQuota {
    /// At most `limit` open streams per caller.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            open: Arc::default(),
        }
    }

    /// A place for one more stream of `principal`. Errors: `QuotaExceeded`
    /// (WATCH_STREAM_LIMIT_REACHED) when it holds `limit` already.
    pub fn acquire(&self, principal: Principal) -> Result<StreamPermit> {
        let subject = subject(principal);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(subject.clone()).or_default();
        if *count >= self.limit {
            return Err(Error::QuotaExceeded {
                reason: Reason::WatchStreamLimitReached,
                message: format!(
                    "{subject} has {} event streams open, the most it may; close one first",
                    self.limit
                ),
                subject,
            });
        }
        *count += 1;
        Ok(StreamPermit {
            quota: self.clone(),
            subject,
        })
    }

    /// Streams `principal` has open.
    pub fn open(&self, principal: Principal) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&subject(principal)).copied().unwrap_or(0)
    }
}

/// What a quota counts a principal as.
fn subject(principal: Principal) -> String {
    match principal {
        Principal::Admin => "admin".to_owned(),
        Principal::Account(id) => format!("accounts/{id}"),
        Principal::Partner(id) => format!("partners/{id}"),
        Principal::Device { seat_id, .. } => format!("seats/{seat_id}"),
    }
}

/// One open stream's place in its caller's quota, given back on drop.
#[derive(Debug)]
pub struct StreamPermit {
    quota: StreamQuota,
    subject: String,
}

impl StreamPermit {
    /// `stream`, holding this place for as long as it lives.
    pub fn hold<S>(self, stream: S) -> Permitted<S> {
        Permitted {
            inner: stream,
            _permit: self,
        }
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.quota.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.subject) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.subject);
            }
        }
    }
}

/// A stream that holds a [`StreamPermit`].
#[derive(Debug)]
pub struct Permitted<S> {
    inner: S,
    _permit: StreamPermit,
}

impl<S: Stream + Unpin> Stream for Permitted<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn the_stream_past_the_limit_is_refused_until_one_closes() {
        let quota = StreamQuota::new(2);
        let partner = Principal::Partner(Uuid::now_v7());
        let first = quota.acquire(partner).unwrap();
        let _second = quota.acquire(partner).unwrap();
        let refused = quota.acquire(partner).unwrap_err();
        assert_eq!(refused.reason(), Reason::WatchStreamLimitReached);
        // Others are counted apart.
        let _admin = quota.acquire(Principal::Admin).unwrap();
        let _other = quota.acquire(Principal::Partner(Uuid::now_v7())).unwrap();
        drop(first);
        assert_eq!(quota.open(partner), 1);
        let _third = quota.acquire(partner).unwrap();
    }

    #[test]
    fn closing_every_stream_forgets_the_caller() {
        let quota = StreamQuota::new(1);
        let permit = quota.acquire(Principal::Admin).unwrap();
        drop(permit);
        assert!(quota.open.lock().unwrap().is_empty());
    }
}
