//! A local stand-in for Google's OAuth token endpoint and the Play Developer API's
//! `purchases.subscriptionsv2.get` and `purchases.subscriptions.acknowledge`, checking
//! what Google checks and answering only what Google documents (the androidpublisher v3
//! discovery document: `SubscriptionPurchaseV2`, an empty acknowledge response). Shared by
//! `tests/play_proofs.rs` (the verifier alone) and `tests/api/restores/` (the server
//! configured to use it), as `#[path = "…/support/play_stand_in.rs"] mod play_stand_in;`.

// Each test binary uses a different part of this file.
#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ring::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tessera::app_stores::google::{PlayConfig, PlayVerifier};
use tessera::app_stores::pem;
use tokio::net::TcpListener;

/// The service account's key file, as downloaded from Google Cloud.
pub const KEY_FILE: &str = include_str!("../fixtures/play/test-service-account.json");
/// Where [`KEY_FILE`] is, for a server configured with a key file path.
pub const KEY_FILE_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/play/test-service-account.json"
);
/// The app whose purchases the stand-in knows.
pub const PACKAGE: &str = "com.example.tessera";
const ACCESS_TOKEN: &str = "stand-in-access-token";
const SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";

/// Play products of the default catalog (base plan `yearly`, as [`active_subscription`]
/// answers).
pub const PLAY_PREMIUM: &str = "com.example.suite.premium_10";
pub const PLAY_DELUXE_3: &str = "com.example.suite.deluxe_3";
pub const PLAY_DELUXE_5: &str = "com.example.suite.deluxe_5";

pub const ACTIVE_TOKEN: &str = "active-token.AO-J1Oy_2mWq";
pub const EXPIRED_TOKEN: &str = "expired-token.AO-J1Oz_3nXr";
pub const CANCELED_TOKEN: &str = "canceled-token.AO-J1Ox_4oYs";
pub const GARBLED_TOKEN: &str = "garbled-token";

/// How the stand-in misbehaves, if at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Google {
    Working,
    /// The token endpoint refuses the service account (`invalid_grant`).
    RefusesServiceAccount,
    /// The API rejects every access token.
    RejectsEveryBearer,
    /// The service account has no access to the app in the Play Console.
    ForbidsTheApp,
    /// The API is down.
    Unavailable,
}

pub struct StandIn {
    pub base_url: String,
    behaviour: Mutex<Google>,
    /// Answers added by a test, looked up before the documented ones.
    answers: Mutex<HashMap<String, Value>>,
    public_key: Vec<u8>,
    token_requests: AtomicUsize,
    api_requests: AtomicUsize,
    rejections: Mutex<Vec<String>>,
    /// `(subscriptionId, token)` of every acknowledgement accepted, in order.
    acknowledgements: Mutex<Vec<(String, String)>>,
}

impl StandIn {
    pub async fn spawn(behaviour: Google) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stand_in = Arc::new(Self {
            base_url: format!("http://{}", listener.local_addr().unwrap()),
            behaviour: Mutex::new(behaviour),
            answers: Mutex::new(HashMap::new()),
            public_key: test_key().public_key().as_ref().to_vec(),
            token_requests: AtomicUsize::new(0),
            api_requests: AtomicUsize::new(0),
            rejections: Mutex::new(Vec::new()),
            acknowledgements: Mutex::new(Vec::new()),
        });
        let server = stand_in.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.handle(request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        stand_in
    }

    pub fn token_uri(&self) -> String {
        format!("{}/token", self.base_url)
    }

    /// The configuration of a production server that asks this stand-in.
    pub fn config(&self) -> PlayConfig {
        PlayConfig {
            package_name: PACKAGE.into(),
            service_account_json: KEY_FILE.into(),
            api_base_url: self.base_url.clone(),
            token_uri_override: Some(self.token_uri()),
            accept_test_purchases: false,
        }
    }

    /// A production verifier that asks this stand-in.
    pub fn verifier(&self) -> PlayVerifier {
        PlayVerifier::new(self.config()).unwrap()
    }

    /// A verifier for testers' servers, which accepts license testers' purchases.
    pub fn test_purchase_verifier(&self) -> PlayVerifier {
        PlayVerifier::new(PlayConfig {
            accept_test_purchases: true,
            ..self.config()
        })
        .unwrap()
    }

    /// From now on, the stand-in behaves so.
    pub fn set_behaviour(&self, behaviour: Google) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// From now on, the API answers `answer` (a `SubscriptionPurchaseV2`) for `token`.
    pub fn answer(&self, token: &str, answer: Value) {
        self.answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }

    pub fn token_requests(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }

    pub fn api_requests(&self) -> usize {
        self.api_requests.load(Ordering::SeqCst)
    }

    pub fn rejections(&self) -> Vec<String> {
        self.rejections.lock().unwrap().clone()
    }

    /// `(subscriptionId, token)` of every purchase acknowledged so far.
    pub fn acknowledgements(&self) -> Vec<(String, String)> {
        self.acknowledgements.lock().unwrap().clone()
    }

    /// The answer the API gives for `token` now, if it knows the token.
    fn known(&self, token: &str) -> Option<Value> {
        let added = self.answers.lock().unwrap().get(token).cloned();
        added.or_else(|| subscription(token).and_then(Result::ok))
    }

    /// `purchases.subscriptions.acknowledge`: the purchase must be known and of the
    /// product named in the path; the body is a `SubscriptionPurchasesAcknowledgeRequest`
    /// (a JSON object). The response body is empty. Later answers for the token say
    /// `ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED`.
    async fn acknowledge(
        &self,
        product_id: &str,
        token: &str,
        body: &[u8],
    ) -> Response<Full<Bytes>> {
        if !matches!(serde_json::from_slice::<Value>(body), Ok(Value::Object(_))) {
            return google_error(StatusCode::BAD_REQUEST, "Invalid JSON payload received.");
        }
        let Some(mut answer) = self.known(token) else {
            return google_error(StatusCode::NOT_FOUND, "The purchase token was not found.");
        };
        let products: Vec<&str> = answer["lineItems"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["productId"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        if !products.contains(&product_id) {
            return google_error(
                StatusCode::BAD_REQUEST,
                "The product id does not match the purchase.",
            );
        }
        answer["acknowledgementState"] = json!("ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED");
        self.answer(token, answer);
        self.acknowledgements
            .lock()
            .unwrap()
            .push((product_id.to_owned(), token.to_owned()));
        Response::new(Full::new(Bytes::new()))
    }

    fn behaviour(&self) -> Google {
        *self.behaviour.lock().unwrap()
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let api_prefix = format!(
            "/androidpublisher/v3/applications/{PACKAGE}/purchases/subscriptionsv2/tokens/"
        );
        let acknowledge_prefix =
            format!("/androidpublisher/v3/applications/{PACKAGE}/purchases/subscriptions/");
        let path = request.uri().path().to_owned();
        if request.method() == Method::POST
            && let Some(rest) = path.strip_prefix(&acknowledge_prefix)
            && let Some((product_id, token)) = rest
                .strip_suffix(":acknowledge")
                .and_then(|rest| rest.split_once("/tokens/"))
        {
            self.api_requests.fetch_add(1, Ordering::SeqCst);
            let bearer = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if bearer.as_deref() != Some(&format!("Bearer {ACCESS_TOKEN}"))
                || self.behaviour() == Google::RejectsEveryBearer
            {
                return google_error(StatusCode::UNAUTHORIZED, "Invalid Credentials");
            }
            if self.behaviour() == Google::Unavailable {
                return google_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is currently unavailable.",
                );
            }
            let (product_id, token) = (product_id.to_owned(), token.to_owned());
            let body = request.into_body().collect().await.unwrap().to_bytes();
            self.acknowledge(&product_id, &token, &body).await
        } else if request.method() == Method::POST && path == "/token" {
            self.token_requests.fetch_add(1, Ordering::SeqCst);
            let body = request.into_body().collect().await.unwrap().to_bytes();
            match self.check_token_request(&body) {
                Ok(()) => reply(
                    StatusCode::OK,
                    json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
                ),
                Err(problem) => {
                    self.rejections.lock().unwrap().push(problem.clone());
                    reply(
                        StatusCode::BAD_REQUEST,
                        json!({"error": "invalid_grant", "error_description": problem}),
                    )
                }
            }
        } else if request.method() == Method::GET
            && let Some(token) = path.strip_prefix(&api_prefix)
        {
            self.api_requests.fetch_add(1, Ordering::SeqCst);
            let bearer = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            if bearer != Some(&format!("Bearer {ACCESS_TOKEN}"))
                || self.behaviour() == Google::RejectsEveryBearer
            {
                return google_error(StatusCode::UNAUTHORIZED, "Invalid Credentials");
            }
            match self.behaviour() {
                Google::ForbidsTheApp => google_error(
                    StatusCode::FORBIDDEN,
                    "The current user has insufficient permissions to perform the requested operation.",
                ),
                Google::Unavailable => google_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is currently unavailable.",
                ),
                _ => {
                    let added = self.answers.lock().unwrap().get(token).cloned();
                    match added.map(Ok).or_else(|| subscription(token)) {
                        Some(Ok(body)) => reply(StatusCode::OK, body),
                        Some(Err(garbled)) => Response::new(Full::new(Bytes::from(garbled))),
                        None => {
                            google_error(StatusCode::NOT_FOUND, "The purchase token was not found.")
                        }
                    }
                }
            }
        } else {
            google_error(StatusCode::NOT_FOUND, "Not Found")
        }
    }

    /// Checks a JWT-bearer grant as Google would: the grant type, an RS256 JWT signed
    /// by the service account's key, and its claims.
    fn check_token_request(&self, body: &[u8]) -> Result<(), String> {
        if self.behaviour() == Google::RefusesServiceAccount {
            return Err("Invalid JWT Signature.".into());
        }
        let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        let field = |name: &str| {
            form.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .ok_or(format!("no {name}"))
        };
        let grant_type = field("grant_type")?;
        if grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
            return Err(format!("grant_type is {grant_type}"));
        }
        let assertion = field("assertion")?;
        let parts: Vec<&str> = assertion.split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return Err(format!("assertion has {} parts", parts.len()));
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|e| e.to_string());
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.public_key)
            .verify(format!("{header}.{claims}").as_bytes(), &decode(signature)?)
            .map_err(|_| "signature does not verify".to_owned())?;
        let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
        let expected_header = json!({"alg": "RS256", "typ": "JWT", "kid": "test-key-1"});
        if header != expected_header {
            return Err(format!("header is {header}"));
        }
        let claims: Value = serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())?;
        let service_account: Value = serde_json::from_str(KEY_FILE).unwrap();
        if claims["iss"] != service_account["client_email"]
            || claims["scope"] != SCOPE
            || claims["aud"] != self.token_uri().as_str()
        {
            return Err(format!("claims are {claims}"));
        }
        let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
        let (Some(iat), Some(exp)) = (iat, exp) else {
            return Err(format!("claims are {claims}"));
        };
        if exp - iat != 3600 || (Utc::now().timestamp() - iat).abs() > 300 {
            return Err(format!("claims are {claims}"));
        }
        Ok(())
    }
}

/// An active, acknowledged auto-renewing `SubscriptionPurchaseV2` of one product.
pub fn active_subscription(product_id: &str, expiry_time: &str, auto_renew_enabled: bool) -> Value {
    json!({
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "regionCode": "DE",
        "startTime": "2024-05-01T10:00:00.456Z",
        "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
        "latestOrderId": "GPA.3333-4444-5555-77777",
        "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
        "lineItems": [{
            "productId": product_id,
            "expiryTime": expiry_time,
            "autoRenewingPlan": {"autoRenewEnabled": auto_renew_enabled},
            "offerDetails": {"basePlanId": "yearly", "offerTags": []}
        }]
    })
}

/// The documented `SubscriptionPurchaseV2` answers the stand-in knows, or a garbled one.
fn subscription(token: &str) -> Option<Result<Value, &'static str>> {
    let answer = match token {
        ACTIVE_TOKEN => json!({
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "regionCode": "DE",
            "startTime": "2024-05-01T10:00:00.456Z",
            "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
            "latestOrderId": "GPA.3333-4444-5555-66666",
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
            "lineItems": [
                {
                    "productId": "premium_10",
                    "expiryTime": "2099-01-31T10:00:00.123Z",
                    "autoRenewingPlan": {
                        "autoRenewEnabled": true,
                        "recurringPrice": {"currencyCode": "EUR", "units": "4", "nanos": 990000000}
                    },
                    "offerDetails": {"basePlanId": "monthly", "offerTags": []}
                },
                {
                    "productId": "vpn_addon",
                    "expiryTime": "2098-12-31T10:00:00Z",
                    "autoRenewingPlan": {"autoRenewEnabled": true},
                    "offerDetails": {"basePlanId": "monthly"}
                }
            ]
        }),
        EXPIRED_TOKEN => json!({
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "regionCode": "US",
            "startTime": "2024-01-01T08:00:00Z",
            "subscriptionState": "SUBSCRIPTION_STATE_EXPIRED",
            "latestOrderId": "GPA.1111-2222-3333-44444..5",
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
            "lineItems": [{
                "productId": "premium_10",
                "expiryTime": "2024-06-01T08:00:00Z",
                "autoRenewingPlan": {},
                "offerDetails": {"basePlanId": "monthly"}
            }]
        }),
        CANCELED_TOKEN => json!({
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "regionCode": "FR",
            "startTime": "2025-02-01T12:00:00Z",
            "subscriptionState": "SUBSCRIPTION_STATE_CANCELED",
            "linkedPurchaseToken": "older-token.AO-J1Ow_1lVp",
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_PENDING",
            "canceledStateContext": {"userInitiatedCancellation": {"cancelTime": "2025-03-01T12:00:00Z"}},
            "testPurchase": {},
            "lineItems": [{
                "productId": "premium_3",
                "expiryTime": "2099-03-01T12:00:00Z",
                "autoRenewingPlan": {},
                "offerDetails": {"basePlanId": "yearly"}
            }]
        }),
        GARBLED_TOKEN => return Some(Err("<html>not a subscription</html>")),
        _ => return None,
    };
    Some(Ok(answer))
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
}

fn google_error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        json!({"error": {"code": status.as_u16(), "message": message, "errors": []}}),
    )
}

fn test_key() -> RsaKeyPair {
    let key_file: Value = serde_json::from_str(KEY_FILE).unwrap();
    let pem = key_file["private_key"].as_str().unwrap();
    RsaKeyPair::from_pkcs8(&pem::decode(pem, "PRIVATE KEY").unwrap()).unwrap()
}
