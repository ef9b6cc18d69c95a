//! The browser's way in, spoken by hand over HTTP/1.1 as a browser would: gRPC-Web
//! reaches the same services with the same authentication, errors and limits; the
//! account page is served from the binary; other origins may call only when configured.
//! The page itself is tested in a real browser by `tests/browser.rs`.

use crate::support::{Db, PASSWORD, email, on_both_backends, spawn_app, spawn_app_with};
use http_body_util::{BodyExt, Full};
use hyper::{
    HeaderMap, Method, Request, StatusCode,
    body::Bytes,
    header::{self, HeaderValue},
};
use prost::Message;
use std::net::SocketAddr;
use tessera::app::MAX_REQUEST_BYTES;
use tessera_client::{
    pb,
    tonic::{Code, Status},
    tonic_types::StatusExt,
};

/// An HTTP/1.1 exchange on a fresh connection: the response head and its whole body.
async fn http1(
    address: SocketAddr,
    request: Request<Full<Bytes>>,
) -> (hyper::http::response::Parts, Bytes) {
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let (parts, body) = sender.send_request(request).await.unwrap().into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

fn get(path: &str) -> hyper::http::request::Builder {
    Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::HOST, "tessera.test")
}

/// A gRPC-Web call's outcome: the answer, or the status from the headers or trailers.
struct Answer {
    head: hyper::http::response::Parts,
    message: Option<Bytes>,
    status: Status,
}

async fn grpc_web(
    address: SocketAddr,
    method: &str,
    token: Option<&str>,
    origin: Option<&str>,
    request: &impl Message,
) -> Answer {
    let encoded = request.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    frame.extend_from_slice(&encoded);
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(method)
        .header(header::HOST, "tessera.test")
        .header(header::CONTENT_TYPE, "application/grpc-web+proto")
        .header("x-grpc-web", "1");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(origin) = origin {
        builder = builder.header(header::ORIGIN, origin);
    }
    let (head, body) = http1(
        address,
        builder.body(Full::new(Bytes::from(frame))).unwrap(),
    )
    .await;
    assert_eq!(
        head.status,
        StatusCode::OK,
        "gRPC-Web answers 200: {head:?}"
    );
    // Frames: 0x00 for a message, 0x80 for the trailers, each with a 4-byte length.
    let (mut message, mut trailers) = (None, head.headers.clone());
    let mut rest = &body[..];
    while rest.len() >= 5 {
        let length = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        let payload = Bytes::copy_from_slice(&rest[5..5 + length]);
        if rest[0] & 0x80 == 0 {
            message = Some(payload);
        } else {
            for line in std::str::from_utf8(&payload).unwrap().split("\r\n") {
                if let Some((name, value)) = line.split_once(':') {
                    trailers.insert(
                        hyper::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                        HeaderValue::from_str(value.trim()).unwrap(),
                    );
                }
            }
        }
        rest = &rest[5 + length..];
    }
    let status =
        Status::from_header_map(&trailers).expect("a grpc-status in the headers or trailers");
    Answer {
        head,
        message,
        status,
    }
}

fn reason(status: &Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

on_both_backends!(a_browser_reaches_the_same_services_over_grpc_web);

async fn a_browser_reaches_the_same_services_over_grpc_web(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let address = app.address;
    let customer = email();
    let create = pb::CreateAccountRequest {
        email: customer.clone(),
        password: PASSWORD.to_owned(),
        display_name: "Ada".to_owned(),
    };
    let created = grpc_web(
        address,
        "/tessera.v1.AccountService/CreateAccount",
        None,
        None,
        &create,
    )
    .await;
    assert_eq!(created.status.code(), Code::Ok, "{:?}", created.status);
    let account = pb::Account::decode(created.message.unwrap()).unwrap();
    assert_eq!(account.email, customer);

    let signed_in = grpc_web(
        address,
        "/tessera.v1.AccountService/SignIn",
        None,
        None,
        &pb::SignInRequest {
            email: customer.clone(),
            password: PASSWORD.to_owned(),
        },
    )
    .await;
    let token = pb::SignInResponse::decode(signed_in.message.unwrap())
        .unwrap()
        .session_token;
    let me = pb::GetAccountRequest {
        name: "accounts/me".to_owned(),
    };
    let got = grpc_web(
        address,
        "/tessera.v1.AccountService/GetAccount",
        Some(&token),
        None,
        &me,
    )
    .await;
    assert_eq!(
        pb::Account::decode(got.message.unwrap()).unwrap().name,
        account.name
    );

    // The same authentication and errors, with their google.rpc details.
    let anonymous = grpc_web(
        address,
        "/tessera.v1.AccountService/GetAccount",
        None,
        None,
        &me,
    )
    .await;
    assert_eq!(anonymous.status.code(), Code::Unauthenticated);
    assert_eq!(reason(&anonymous.status), "CREDENTIALS_MISSING");
    let again = grpc_web(
        address,
        "/tessera.v1.AccountService/CreateAccount",
        None,
        None,
        &create,
    )
    .await;
    assert_eq!(again.status.code(), Code::AlreadyExists);
    assert_eq!(reason(&again.status), "ACCOUNT_EXISTS");
    let typo = grpc_web(
        address,
        "/tessera.v1.ProductKeyService/RedeemProductKey",
        Some(&token),
        None,
        &pb::RedeemProductKeyRequest {
            product_key: "ABCDE-FGHJK-MNPQR-STUVW-XYZ23".to_owned(),
            subscription: String::new(),
        },
    )
    .await;
    assert_eq!(typo.status.code(), Code::InvalidArgument);
    assert_eq!(reason(&typo.status), "PRODUCT_KEY_MALFORMED");
    let violations = typo
        .status
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .clone();
    assert_eq!(violations[0].field, "product_key");

    // The same size limit as over gRPC.
    let huge = pb::CreateAccountRequest {
        password: "x".repeat(MAX_REQUEST_BYTES + 1),
        ..create.clone()
    };
    let native = app
        .accounts()
        .create_account(huge.clone())
        .await
        .unwrap_err();
    let web = grpc_web(
        address,
        "/tessera.v1.AccountService/CreateAccount",
        None,
        None,
        &huge,
    )
    .await;
    assert_ne!(native.code(), Code::Ok);
    assert_eq!(
        web.status.code(),
        native.code(),
        "{:?} / {native:?}",
        web.status
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_is_served_from_the_binary() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let address = app.address;

    let (page, html) = http1(address, get("/account").body(Full::default()).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let policy = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    for rule in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(rule), "{rule} missing from {policy}");
    }
    assert_eq!(page.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let html = String::from_utf8(html.to_vec()).unwrap();
    assert!(
        html.contains(r#"src="/account/assets/account.js""#),
        "{html}"
    );

    let (script, body) = http1(
        address,
        get("/account/assets/account.js")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(
        script.headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(script.headers[header::CACHE_CONTROL], "no-cache");
    assert!(!body.is_empty());
    let etag = script.headers[header::ETAG].clone();
    let (revalidated, body) = http1(
        address,
        get("/account/assets/account.js")
            .header(header::IF_NONE_MATCH, etag)
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    let (trailing, _) = http1(address, get("/account/").body(Full::default()).unwrap()).await;
    assert_eq!(trailing.status, StatusCode::OK);
    let (root, _) = http1(address, get("/").body(Full::default()).unwrap()).await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.headers[header::LOCATION], "/account");
    let (missing, _) = http1(
        address,
        get("/account/assets/other.js")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let (head, body) = http1(
        address,
        get("/account")
            .method(Method::HEAD)
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(body.is_empty());
    app.stop().await;
}

/// A browser's preflight before a cross-origin gRPC-Web call.
fn preflight(origin: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/tessera.v1.SubscriptionService/ListPlans")
        .header(header::HOST, "tessera.test")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type,x-grpc-web,x-user-agent",
        )
        .body(Full::default())
        .unwrap()
}

fn allowed_origin(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .map(|v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_origins_may_call_only_when_configured() {
    const SHOP: &str = "https://shop.example.com";
    let plans = pb::ListPlansRequest {};
    let method = "/tessera.v1.SubscriptionService/ListPlans";

    let same_origin_only = spawn_app(Db::Sqlite).await.unwrap();
    let (answer, _) = http1(same_origin_only.address, preflight(SHOP)).await;
    assert_eq!(allowed_origin(&answer.headers), None, "{answer:?}");
    let call = grpc_web(same_origin_only.address, method, None, Some(SHOP), &plans).await;
    assert_eq!(allowed_origin(&call.head.headers), None);
    same_origin_only.stop().await;

    let open_to_shop = spawn_app_with(Db::Sqlite, |settings| {
        settings.cors_origins = vec![SHOP.parse().unwrap()];
    })
    .await
    .unwrap();
    let (answer, _) = http1(open_to_shop.address, preflight(SHOP)).await;
    assert!(answer.status.is_success(), "{answer:?}");
    assert_eq!(allowed_origin(&answer.headers), Some(SHOP));
    let allowed = answer.headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap();
    assert!(allowed.contains("authorization"), "{allowed}");
    let call = grpc_web(open_to_shop.address, method, None, Some(SHOP), &plans).await;
    assert_eq!(call.status.code(), Code::Ok);
    assert_eq!(allowed_origin(&call.head.headers), Some(SHOP));
    let exposed = call.head.headers[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap();
    assert!(exposed.contains("grpc-status-details-bin"), "{exposed}");
    let (other, _) = http1(open_to_shop.address, preflight("https://elsewhere.example")).await;
    assert_eq!(allowed_origin(&other.headers), None);
    open_to_shop.stop().await;
}
