//! Requests no client library would send, built by hand and sent as raw HTTP/2: bytes
//! that do not decode as the method's message, gRPC frames that lie about their length
//! or stop short, unary calls with no message or two, a message over the size limit.
//! Each is refused with INVALID_ARGUMENT and an `ErrorInfo` (MALFORMED_REQUEST or
//! REQUEST_TOO_LARGE) before any handler runs, and the server keeps serving.
//!
//! These requests never reach the store, so they run on SQLite only.

use crate::support::{Db, TestApp, assert_error, assert_invalid_field, spawn_app};
use http_body_util::{BodyExt, Full};
use hyper::{
    Request,
    body::Bytes,
    client::conn::http2::{self, SendRequest},
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tessera::app::MAX_REQUEST_BYTES;
use tessera_client::{
    pb,
    tonic::{Code, Status},
    tonic_types::StatusExt,
};

/// A method that takes a message with a string field (`name = 1`) and, were the
/// message valid, would refuse the call for want of credentials.
const GET_ACCOUNT: &str = "/tessera.v1.AccountService/GetAccount";

/// An HTTP/2 connection to the server that sends whatever it is given.
struct Raw {
    sender: SendRequest<Full<Bytes>>,
    app: TestApp,
}

impl Raw {
    async fn connect() -> Option<Self> {
        let app = spawn_app(Db::Sqlite).await?;
        let stream = tokio::net::TcpStream::connect(app.address)
            .await
            .expect("the server accepts connections");
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("an HTTP/2 handshake");
        tokio::spawn(connection);
        Some(Self { sender, app })
    }

    /// Sends `body` as the request body of a gRPC call to `path` (with `headers`), and
    /// returns the status the server answers with, from the headers or the trailers.
    async fn call(&mut self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Status {
        let mut request = Request::post(format!("http://{}{path}", self.app.address))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        let response = self
            .sender
            .send_request(request)
            .await
            .expect("the server answers over HTTP/2");
        let (parts, body) = response.into_parts();
        assert_eq!(parts.status, 200, "gRPC answers HTTP 200: {parts:?}");
        let collected = body.collect().await.expect("the answer's body");
        Status::from_header_map(&parts.headers)
            .or_else(|| collected.trailers().and_then(Status::from_header_map))
            .expect("a gRPC status in the headers or the trailers")
    }
}

/// One gRPC frame: no compression, the length, the bytes.
fn frame(message: &[u8]) -> Vec<u8> {
    let mut framed = vec![0];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

/// Asserts a refusal as malformed, blaming `field` when the decoder could tell.
#[track_caller]
fn assert_malformed(status: &Status, field: Option<&str>) {
    assert_error(status, Code::InvalidArgument, "MALFORMED_REQUEST");
    match field {
        Some(field) => assert_invalid_field(status, field),
        None => assert!(
            status.get_error_details().bad_request().is_none(),
            "no field to blame: {status:?}"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_do_not_decode_are_invalid_arguments_with_a_reason() {
    let Some(mut raw) = Raw::connect().await else {
        return;
    };
    // A well-formed message gets through to the handler, which wants credentials.
    let valid = raw.call(GET_ACCOUNT, &[], frame(&[0x0a, 0x01, b'x'])).await;
    assert_error(&valid, Code::Unauthenticated, "CREDENTIALS_MISSING");

    for (what, message, field) in [
        ("a truncated varint", vec![0x80], None),
        ("a wrong wire type", vec![0x08, 0x01], Some("name")),
        (
            "a string that is not UTF-8",
            vec![0x0a, 0x02, 0xc3, 0x28],
            Some("name"),
        ),
        (
            "a length past the end",
            vec![0x0a, 0x10, b'a'],
            Some("name"),
        ),
        ("field number 0", vec![0x02, 0x00], None),
    ] {
        let status = raw.call(GET_ACCOUNT, &[], frame(&message)).await;
        assert_malformed(&status, field);
        assert!(!status.message().is_empty(), "{what}: {status:?}");
    }
    raw.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unary_call_takes_exactly_one_whole_message() {
    let Some(mut raw) = Raw::connect().await else {
        return;
    };
    let none = raw.call(GET_ACCOUNT, &[], Vec::new()).await;
    assert_malformed(&none, None);
    let streaming = raw
        .call("/tessera.v1.EventService/WatchEvents", &[], Vec::new())
        .await;
    assert_malformed(&streaming, None);

    let mut two = frame(&[0x0a, 0x01, b'x']);
    two.extend(frame(&[0x0a, 0x01, b'y']));
    assert_malformed(&raw.call(GET_ACCOUNT, &[], two).await, None);

    let mut cut = frame(&[0x0a, 0x05, b'a', b'b', b'c', b'd', b'e']);
    cut.truncate(8);
    assert_malformed(&raw.call(GET_ACCOUNT, &[], cut).await, None);
    assert_malformed(&raw.call(GET_ACCOUNT, &[], vec![0, 0, 0]).await, None);

    let mut flagged = frame(&[0x0a, 0x01, b'x']);
    flagged[0] = 1;
    assert_malformed(&raw.call(GET_ACCOUNT, &[], flagged).await, None);
    raw.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_size_limit_is_refused_before_it_is_read() {
    let Some(mut raw) = Raw::connect().await else {
        return;
    };
    // A frame that announces more than the limit is refused on its header alone.
    let mut announced = vec![0];
    announced.extend_from_slice(&(MAX_REQUEST_BYTES as u32 + 1).to_be_bytes());
    announced.extend_from_slice(&[0x0a, 0x01, b'x']);
    let status = raw.call(GET_ACCOUNT, &[], announced).await;
    assert_error(&status, Code::InvalidArgument, "REQUEST_TOO_LARGE");

    // The client library sends it whole; it is refused all the same.
    let huge = raw
        .app
        .accounts()
        .create_account(pb::CreateAccountRequest {
            email: "big@example.com".to_owned(),
            password: "a long enough password".to_owned(),
            display_name: "x".repeat(MAX_REQUEST_BYTES),
        })
        .await
        .unwrap_err();
    assert_error(&huge, Code::InvalidArgument, "REQUEST_TOO_LARGE");
    assert!(huge.message().contains(&MAX_REQUEST_BYTES.to_string()));

    // Exactly at the limit the message is read, and refused only for what it says.
    let mut at_limit = vec![0x0a];
    let name_len = MAX_REQUEST_BYTES - 4;
    let mut varint = name_len;
    while varint >= 0x80 {
        at_limit.push((varint as u8 & 0x7f) | 0x80);
        varint >>= 7;
    }
    at_limit.push(varint as u8);
    at_limit.resize(at_limit.len() + name_len, b'a');
    assert_eq!(at_limit.len(), MAX_REQUEST_BYTES);
    let status = raw.call(GET_ACCOUNT, &[], frame(&at_limit)).await;
    assert_error(&status, Code::Unauthenticated, "CREDENTIALS_MISSING");
    raw.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_made_by_the_transport_carry_a_reason_too() {
    let Some(mut raw) = Raw::connect().await else {
        return;
    };
    let unknown = raw
        .call("/tessera.v1.AccountService/Nothing", &[], frame(&[]))
        .await;
    assert_error(&unknown, Code::Unimplemented, "METHOD_NOT_FOUND");

    let compressed = raw
        .call(GET_ACCOUNT, &[("grpc-encoding", "gzip")], frame(&[]))
        .await;
    assert_error(&compressed, Code::Unimplemented, "TRANSPORT_ERROR");

    // And after all that the server serves as before.
    let plans = raw
        .app
        .subscriptions()
        .list_plans(pb::ListPlansRequest {})
        .await
        .expect("the server still serves")
        .into_inner();
    assert!(!plans.plans.is_empty());
    raw.app.stop().await;
}
