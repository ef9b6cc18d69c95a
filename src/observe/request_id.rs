//! `x-request-id`: every call has one, the caller's or a generated one, echoed in the
//! response metadata (errors included) and written on the call's log lines.
//! tower-http's request-id layers do the work; [`RequestIds`] makes the ids.

use crate::domain::secret::random_bytes;
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use tonic::codegen::http::{HeaderValue, Request};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

/// Generates request ids: 32 hex digits, a random 64-bit prefix per server followed by
/// a counter, so ids are unique across replicas without a random draw per call.
#[derive(Debug, Clone)]
pub struct RequestIds {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        Self {
            prefix: u64::from_be_bytes(random_bytes::<8>()),
            next: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let count = self.next.fetch_add(1, Ordering::Relaxed);
        let mut text = [0u8; 32];
        hex_into(&mut text[..16], self.prefix);
        hex_into(&mut text[16..], count);
        let value = HeaderValue::from_bytes(&text).expect("hex digits make a header value");
        Some(RequestId::new(value))
    }
}

fn hex_into(out: &mut [u8], value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out.iter_mut().enumerate() {
        let shift = 60 - 4 * i;
        *byte = DIGITS[((value >> shift) & 0xf) as usize];
    }
}

/// The two layers, outermost first: set the id on the request (the caller's, or a new
/// one), then copy it onto the response.
pub fn layers() -> (SetRequestIdLayer<RequestIds>, PropagateRequestIdLayer) {
    (
        SetRequestIdLayer::x_request_id(RequestIds::default()),
        PropagateRequestIdLayer::x_request_id(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_distinct_hex() {
        let mut ids = RequestIds::default();
        let request = Request::new(());
        let first = ids.make_request_id(&request).unwrap();
        let second = ids.make_request_id(&request).unwrap();
        let (first, second) = (
            first.header_value().to_str().unwrap().to_owned(),
            second.header_value().to_str().unwrap().to_owned(),
        );
        assert_ne!(first, second);
        assert_eq!(first.len(), 32);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(first[..16], second[..16]);
    }
}
