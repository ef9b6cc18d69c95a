//! What the gRPC transport and codec refuse, answered like every other error: the
//! fitting code and an `ErrorInfo` (AIP-193).
//!
//! tonic decodes a request before any handler runs, and answers what it cannot decode
//! itself, with `INTERNAL` and no details; it reads one message of a unary call and
//! drops any further one unread. [`WireLayer`], in front of every service:
//!
//! - follows the gRPC framing of the request body as it passes (nothing is copied) and
//!   refuses, before the handler is called, a message declared larger than the limit
//!   (REQUEST_TOO_LARGE), a body that ends inside a frame, and — for the methods that
//!   take one message, every method of the contract — a call with no message or with
//!   more than one (MALFORMED_REQUEST);
//! - gives every error status the layers below made without details its `ErrorInfo`:
//!   a message the codec cannot decode — a truncated varint, a wrong wire type, a string
//!   that is not UTF-8, a length past the end, field number 0 — answers
//!   `INVALID_ARGUMENT` (MALFORMED_REQUEST, with a `BadRequest` naming the field when
//!   the decoder knows it); an unknown method keeps `UNIMPLEMENTED` (METHOD_NOT_FOUND);
//!   anything else keeps its code (TRANSPORT_ERROR).
//!
//! Both too-large and malformed requests answer `INVALID_ARGUMENT`: in the terms of
//! `google.rpc.Code`, which AIP-193 follows, the request is wrong whatever the state of
//! the server, and sending it again cannot help. (gRPC's own libraries use
//! `RESOURCE_EXHAUSTED` for an oversized message, tonic `OUT_OF_RANGE`; both read as
//! "retry later" to clients that retry on them.)

use super::status::with_error_info;
use crate::error::{Error, Reason};
use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll, ready},
};
use tonic::{
    Code, Status,
    body::Body,
    codegen::{
        Bytes,
        http::{self, HeaderMap},
    },
};
use tower::{Layer, Service};

/// The message tonic's codec prefixes its decode errors with (prost's `DecodeError`).
const DECODE_FAILED: &str = "failed to decode Protobuf message: ";
/// Length of a gRPC frame header: a compression flag and a four-byte length.
const FRAME_HEADER: usize = 5;
const GRPC_STATUS: &str = "grpc-status";
const GRPC_MESSAGE: &str = "grpc-message";
const GRPC_DETAILS: &str = "grpc-status-details-bin";

/// Whether the method at `path` takes exactly one request message: every method of the
/// contract does, and the health service's; reflection streams requests.
fn takes_one_message(path: &str) -> bool {
    path.starts_with("/tessera.v1.") || path.starts_with("/grpc.health.v1.")
}

/// Puts [`Wire`] in front of a service; see the module's documentation.
#[derive(Debug, Clone, Copy)]
pub struct WireLayer {
    max_request_bytes: usize,
}

impl WireLayer {
    /// Refuses request messages larger than `max_request_bytes`.
    pub fn new(max_request_bytes: usize) -> Self {
        Self { max_request_bytes }
    }
}

impl<S> Layer<S> for WireLayer {
    type Service = Wire<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Wire {
            inner,
            max_request_bytes: self.max_request_bytes,
        }
    }
}

/// The service [`WireLayer`] makes.
#[derive(Debug, Clone)]
pub struct Wire<S> {
    inner: S,
    max_request_bytes: usize,
}

impl<S, B, R> Service<http::Request<B>> for Wire<S>
where
    S: Service<http::Request<Body>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let refusal = Arc::new(OnceLock::new());
        let (parts, body) = request.into_parts();
        let body = Body::new(Framing {
            inner: Body::new(body),
            one_message: takes_one_message(&path),
            max_bytes: self.max_request_bytes,
            header: [0; FRAME_HEADER],
            header_read: 0,
            body_left: 0,
            messages: 0,
            refusal: refusal.clone(),
        });
        let response = self.inner.call(http::Request::from_parts(parts, body));
        let limit = self.max_request_bytes;
        Box::pin(async move {
            let mut response = response.await?;
            if let Some(status) = answer(response.headers(), refusal.get(), &path, limit) {
                let headers = response.headers_mut();
                for name in [GRPC_STATUS, GRPC_MESSAGE, GRPC_DETAILS] {
                    headers.remove(name);
                }
                // The message is percent-encoded and the details base64: always valid.
                let _ = status.add_header(headers);
                response.extensions_mut().insert(status);
            }
            Ok(response)
        })
    }
}

/// What is wrong with a request's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// A frame declares a message of this many bytes, over the limit.
    TooLarge,
    /// A method that takes one message got none.
    NoMessage,
    /// A method that takes one message got more.
    SecondMessage,
    /// The body ended inside a frame.
    CutShort,
}

impl Refusal {
    fn error(self, limit: usize) -> Error {
        let malformed = |description: &str| Error::MalformedRequest {
            description: description.to_owned(),
            field: None,
        };
        match self {
            Refusal::TooLarge => Error::RequestTooLarge { limit },
            Refusal::NoMessage => {
                malformed("a call of this method carries one message; it had none")
            }
            Refusal::SecondMessage => {
                malformed("a call of this method carries one message; it had more")
            }
            Refusal::CutShort => malformed("the request ended inside a message"),
        }
    }
}

/// A request body followed frame by frame as it passes through.
struct Framing {
    inner: Body,
    one_message: bool,
    max_bytes: usize,
    header: [u8; FRAME_HEADER],
    /// Bytes of the current frame header read so far.
    header_read: usize,
    /// Bytes of the current message still to come.
    body_left: usize,
    messages: usize,
    refusal: Arc<OnceLock<Refusal>>,
}

impl Framing {
    /// Follows `data` through the frames.
    fn follow(&mut self, mut data: &[u8]) -> Result<(), Refusal> {
        while !data.is_empty() {
            if self.body_left > 0 {
                let taken = self.body_left.min(data.len());
                self.body_left -= taken;
                data = &data[taken..];
                continue;
            }
            let taken = (FRAME_HEADER - self.header_read).min(data.len());
            self.header[self.header_read..self.header_read + taken].copy_from_slice(&data[..taken]);
            self.header_read += taken;
            data = &data[taken..];
            if self.header_read < FRAME_HEADER {
                continue;
            }
            self.header_read = 0;
            self.messages += 1;
            if self.one_message && self.messages > 1 {
                return Err(Refusal::SecondMessage);
            }
            let length = u32::from_be_bytes([
                self.header[1],
                self.header[2],
                self.header[3],
                self.header[4],
            ]) as usize;
            if length > self.max_bytes {
                return Err(Refusal::TooLarge);
            }
            self.body_left = length;
        }
        Ok(())
    }

    /// Checks the body as it ends.
    fn end(&self) -> Result<(), Refusal> {
        if self.header_read > 0 || self.body_left > 0 {
            return Err(Refusal::CutShort);
        }
        if self.one_message && self.messages == 0 {
            return Err(Refusal::NoMessage);
        }
        Ok(())
    }

    /// Records the refusal for the answer and ends the body with it.
    fn refuse(
        &mut self,
        refusal: Refusal,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let _ = self.refusal.set(refusal);
        Poll::Ready(Some(Err(Status::from(refusal.error(self.max_bytes)))))
    }
}

impl http_body::Body for Framing {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.refusal.get().is_some() {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref()
                    && let Err(refusal) = this.follow(data)
                {
                    return this.refuse(refusal);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(error)) => Poll::Ready(Some(Err(error))),
            None => match this.end() {
                Ok(()) => Poll::Ready(None),
                Err(refusal) => this.refuse(refusal),
            },
        }
    }
}

/// The status to answer instead of the one in `headers`, if any: the framing refusal
/// when the call failed with one, or the `ErrorInfo`-carrying form of an error status
/// made without details. `None` for a call answering normally or already explained.
fn answer(
    headers: &HeaderMap,
    refusal: Option<&Refusal>,
    path: &str,
    limit: usize,
) -> Option<Status> {
    // Errors travel in the headers (trailers-only responses); without a status header
    // the call is answering normally.
    let code = headers
        .get(GRPC_STATUS)
        .map(|value| Code::from_bytes(value.as_bytes()))?;
    if code == Code::Ok {
        return None;
    }
    if let Some(refusal) = refusal {
        return Some(Status::from(refusal.error(limit)));
    }
    if headers.contains_key(GRPC_DETAILS) {
        return None;
    }
    Status::from_header_map(headers).map(|made| explain(&made, path, limit))
}

/// The `ErrorInfo`-carrying form of a status made below the handlers.
fn explain(made: &Status, path: &str, limit: usize) -> Status {
    let message = made.message();
    match made.code() {
        Code::Internal if message.starts_with(DECODE_FAILED) => {
            let (field, description) = decoded_field(&message[DECODE_FAILED.len()..]);
            Status::from(Error::MalformedRequest {
                description: description.to_owned(),
                field,
            })
        }
        // tonic's framing: no message, a frame cut short, a bad compression flag.
        Code::Internal
            if message == "Missing request message."
                || message == "Unexpected EOF decoding stream."
                || message.starts_with("protocol error") =>
        {
            Status::from(Error::MalformedRequest {
                description: message.to_owned(),
                field: None,
            })
        }
        Code::OutOfRange | Code::ResourceExhausted if message.contains("too large") => {
            Status::from(Error::RequestTooLarge { limit })
        }
        Code::Unimplemented if message.is_empty() => with_error_info(
            made,
            Reason::MethodNotFound,
            &format!("this server has no method {path}"),
        ),
        Code::Internal => with_error_info(made, Reason::Internal, message),
        _ => with_error_info(made, Reason::TransportError, message),
    }
}

/// The field path prost names in a decode error (`Inner.field: Outer.field: what`, the
/// innermost first), as `field.field`, and what went wrong.
fn decoded_field(text: &str) -> (Option<String>, &str) {
    let mut fields = Vec::new();
    let mut rest = text;
    while let Some((entry, after)) = rest.split_once(": ") {
        let Some((message, field)) = entry.split_once('.') else {
            break;
        };
        let identifier = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '#')
        };
        if !identifier(message) || !identifier(field) {
            break;
        }
        fields.push(field.trim_start_matches("r#"));
        rest = after;
    }
    let field = (!fields.is_empty()).then(|| {
        fields.reverse();
        fields.join(".")
    });
    (field, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    fn framing(one_message: bool) -> Framing {
        Framing {
            inner: Body::empty(),
            one_message,
            max_bytes: 10,
            header: [0; FRAME_HEADER],
            header_read: 0,
            body_left: 0,
            messages: 0,
            refusal: Arc::new(OnceLock::new()),
        }
    }

    #[test]
    fn frames_are_followed_across_chunks() {
        let mut body = framing(true);
        let frame = [0u8, 0, 0, 0, 3, 1, 2, 3];
        for byte in frame {
            body.follow(&[byte]).unwrap();
        }
        assert_eq!(body.end(), Ok(()));
        assert_eq!(body.follow(&[0]), Ok(()));
        assert_eq!(body.end(), Err(Refusal::CutShort));
        assert_eq!(body.follow(&[0, 0, 0, 0]), Err(Refusal::SecondMessage));
    }

    #[test]
    fn a_declared_length_over_the_limit_and_a_missing_message_are_refused() {
        assert_eq!(
            framing(true).follow(&[0, 0, 0, 0, 11]),
            Err(Refusal::TooLarge)
        );
        assert_eq!(framing(true).end(), Err(Refusal::NoMessage));
        assert_eq!(framing(false).end(), Ok(()));
        let mut stream = framing(false);
        stream.follow(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(stream.end(), Ok(()));
    }

    #[test]
    fn prost_names_the_field_it_was_decoding() {
        assert_eq!(
            decoded_field(
                "Subscription.name: UpdateSubscriptionRequest.subscription: invalid string value: data is not UTF-8 encoded"
            ),
            (
                Some("subscription.name".to_owned()),
                "invalid string value: data is not UTF-8 encoded"
            )
        );
        assert_eq!(decoded_field("invalid varint"), (None, "invalid varint"));
        assert_eq!(
            decoded_field("invalid wire type: Varint (expected LengthDelimited)"),
            (None, "invalid wire type: Varint (expected LengthDelimited)")
        );
    }

    #[test]
    fn statuses_made_below_the_handlers_get_an_error_info() {
        let cases = [
            (
                Status::internal(
                    "failed to decode Protobuf message: SignInRequest.email: invalid string value: data is not UTF-8 encoded",
                ),
                Code::InvalidArgument,
                "MALFORMED_REQUEST",
            ),
            (
                Status::internal("Missing request message."),
                Code::InvalidArgument,
                "MALFORMED_REQUEST",
            ),
            (
                Status::out_of_range("Error, decoded message length too large: found 9 bytes"),
                Code::InvalidArgument,
                "REQUEST_TOO_LARGE",
            ),
            (
                Status::unimplemented(""),
                Code::Unimplemented,
                "METHOD_NOT_FOUND",
            ),
            (
                Status::cancelled("Timeout expired"),
                Code::Cancelled,
                "TRANSPORT_ERROR",
            ),
            (
                Status::internal("h2 went wrong"),
                Code::Internal,
                "INTERNAL",
            ),
        ];
        for (made, code, reason) in cases {
            let answered = explain(&made, "/tessera.v1.AccountService/SignIn", 10);
            assert_eq!(answered.code(), code, "{made:?}");
            let info = answered.get_error_details().error_info().cloned();
            assert_eq!(info.map(|i| i.reason), Some(reason.to_owned()), "{made:?}");
        }
        let decoded = explain(
            &Status::internal(
                "failed to decode Protobuf message: SignInRequest.email: invalid string value: data is not UTF-8 encoded",
            ),
            "/",
            10,
        );
        let violations = decoded.get_error_details().bad_request().cloned().unwrap();
        assert_eq!(violations.field_violations[0].field, "email");
    }
}
