//! Google Play purchase tokens. Unlike Apple's signed transactions, a Play token proves
//! nothing by itself: Tessera asks Google about it through the Play Developer API
//! (`purchases.subscriptionsv2.get`), signed in as a service account with the OAuth 2.0
//! JWT-bearer grant (RFC 7523). The access token is cached until shortly before it
//! expires, so most verifications cost one request.
//!
//! Errors: a malformed token is `signed_proof` `PLAY_TOKEN_MALFORMED`; a token Google
//! does not know is `PLAY_PURCHASE_NOT_FOUND`; Google refusing our credentials is
//! `PermissionDenied` `PLAY_ACCESS_DENIED`; Google unreachable, overloaded or failing is
//! `Throttled` `PLAY_UNAVAILABLE`, to retry in a few seconds; an answer that does not
//! parse, or a malformed key file, is `Internal`.

use super::pem::{self, PemError};
use crate::domain::purchase::{Standing, StoreKind, VerifiedPurchase};
use crate::error::{Error, Reason};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Where the Play Developer API lives.
pub const DEFAULT_API_BASE_URL: &str = "https://androidpublisher.googleapis.com";
/// Google's token endpoint, for key files that do not name one.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The one scope the Play Developer API needs.
const SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google accepts assertions valid for at most an hour.
const ASSERTION_LIFETIME_SECS: i64 = 3600;
/// Fetch a new access token this long before the cached one expires, so a token never
/// expires in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Each request to Google, connection included, gives up after this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// What callers are told to wait when Google cannot answer.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Real tokens are a few hundred characters; anything far longer is not one.
const MAX_TOKEN_LEN: usize = 4096;
/// Google's answers are a few kilobytes.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
const EXPECTED_KIND: &str = "androidpublisher#subscriptionPurchaseV2";
/// [`VerifiedPurchase::environment`] of a paid purchase.
const PRODUCTION: &str = "Production";
/// [`VerifiedPurchase::environment`] of a license tester's purchase.
const SANDBOX: &str = "Sandbox";

/// How to reach Google Play for one app.
#[derive(Clone)]
pub struct PlayConfig {
    /// The app's package name, e.g. `com.example.app`.
    pub package_name: String,
    /// The service account's JSON key file, as downloaded from Google Cloud. The
    /// account must be granted access to the app in the Play Console.
    pub service_account_json: String,
    /// The Play Developer API's base URL, without a trailing path; normally
    /// [`DEFAULT_API_BASE_URL`]. Tests point it at a local stand-in.
    pub api_base_url: String,
    /// Replaces the key file's `token_uri`. Tests point it at a local stand-in.
    pub token_uri_override: Option<String>,
    /// Whether license testers' purchases (`testPurchase`, never charged) are
    /// accepted; only a server for testers should. Refused by default.
    pub accept_test_purchases: bool,
}

impl PlayConfig {
    /// A configuration that talks to Google itself.
    pub fn new(package_name: impl Into<String>, service_account_json: impl Into<String>) -> Self {
        Self {
            package_name: package_name.into(),
            service_account_json: service_account_json.into(),
            api_base_url: DEFAULT_API_BASE_URL.to_owned(),
            token_uri_override: None,
            accept_test_purchases: false,
        }
    }
}

// By hand, so that the private key never reaches a log.
impl fmt::Debug for PlayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlayConfig")
            .field("package_name", &self.package_name)
            .field("service_account_json", &"<redacted>")
            .field("api_base_url", &self.api_base_url)
            .field("token_uri_override", &self.token_uri_override)
            .field("accept_test_purchases", &self.accept_test_purchases)
            .finish()
    }
}

/// A Play subscription's `subscriptionState`, as Google reports it. Whether it entitles
/// the user is the caller's decision, together with `expires_at` and `revoked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlayState {
    /// `SUBSCRIPTION_STATE_UNSPECIFIED`, or a state this code does not know yet.
    Unspecified,
    /// Bought, awaiting payment (e.g. cash at a shop); grants nothing yet.
    Pending,
    /// Paid and renewing, or a prepaid plan within its period.
    Active,
    /// The user paused it; no access until it resumes.
    Paused,
    /// Renewal payment failed; access continues while Google retries.
    InGracePeriod,
    /// Renewal payment failed after the grace period; no access while on hold.
    OnHold,
    /// Will not renew; access continues until `expires_at`.
    Canceled,
    /// Over.
    Expired,
    /// A pending purchase was abandoned before it was paid.
    PendingPurchaseCanceled,
}

impl PlayState {
    /// Reads Google's name for a state; names not known here read as `Unspecified`.
    pub fn from_api(name: &str) -> Self {
        match name {
            "SUBSCRIPTION_STATE_PENDING" => Self::Pending,
            "SUBSCRIPTION_STATE_ACTIVE" => Self::Active,
            "SUBSCRIPTION_STATE_PAUSED" => Self::Paused,
            "SUBSCRIPTION_STATE_IN_GRACE_PERIOD" => Self::InGracePeriod,
            "SUBSCRIPTION_STATE_ON_HOLD" => Self::OnHold,
            "SUBSCRIPTION_STATE_CANCELED" => Self::Canceled,
            "SUBSCRIPTION_STATE_EXPIRED" => Self::Expired,
            "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED" => Self::PendingPurchaseCanceled,
            _ => Self::Unspecified,
        }
    }

    /// What the state means for the customer's entitlement.
    pub fn standing(self) -> Standing {
        match self {
            Self::Active | Self::Canceled => Standing::Paid,
            Self::InGracePeriod => Standing::GracePeriod,
            Self::Pending => Standing::Pending,
            Self::PendingPurchaseCanceled => Standing::NeverPaid,
            Self::OnHold | Self::Paused => Standing::OnHold,
            Self::Expired | Self::Unspecified => Standing::Ended,
        }
    }

    /// Google's name for the state.
    pub fn as_api(self) -> &'static str {
        match self {
            Self::Unspecified => "SUBSCRIPTION_STATE_UNSPECIFIED",
            Self::Pending => "SUBSCRIPTION_STATE_PENDING",
            Self::Active => "SUBSCRIPTION_STATE_ACTIVE",
            Self::Paused => "SUBSCRIPTION_STATE_PAUSED",
            Self::InGracePeriod => "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
            Self::OnHold => "SUBSCRIPTION_STATE_ON_HOLD",
            Self::Canceled => "SUBSCRIPTION_STATE_CANCELED",
            Self::Expired => "SUBSCRIPTION_STATE_EXPIRED",
            Self::PendingPurchaseCanceled => "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED",
        }
    }
}

/// What Google says about a purchase token.
///
/// `purchase.original_id` is the token itself. An upgrade, downgrade or re-subscription
/// issues a *new* token whose `linked_purchase_token` names the one it replaces, so a
/// caller that finds the linked token attached to an account should move that
/// attachment to the new token rather than treat it as a second purchase.
///
/// Other mappings:
/// - `product_id`, `base_plan_id` (`offerDetails.basePlanId`) and `expires_at` come from
///   the line item that expires last (a subscription with add-ons has several); a line
///   item without `expiryTime` (a pending purchase) gives `expires_at == purchased_at`,
///   an entitlement of nothing.
/// - `transaction_id` is the line item's `latestSuccessfulOrderId` (else the purchase's
///   `latestOrderId`, else the token); `signed_at` is when Google answered.
/// - `purchased_at` is `startTime`, when the subscription was first granted, not the
///   start of the current period (v2 does not say); pending purchases have none and get
///   the time of verification.
/// - `auto_renew` is `autoRenewingPlan.autoRenewEnabled` (`Some(false)` for a prepaid
///   plan, `None` when the line item names neither).
/// - `environment` is `"Sandbox"` for license-tester purchases (`testPurchase`), else
///   `"Production"`.
/// - `standing` follows `subscriptionState` ([`PlayState::standing`]); `revoked` is never
///   set: a revoked subscription is EXPIRED, with its expiry at the revocation.
/// - `account_token` is `externalAccountIdentifiers.obfuscatedExternalAccountId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayPurchase {
    /// The store-neutral view.
    pub purchase: VerifiedPurchase,
    /// Google's `subscriptionState`.
    pub state: PlayState,
    /// The token this purchase replaced, on upgrade, downgrade or re-subscription.
    pub linked_purchase_token: Option<String>,
    /// Whether the purchase was acknowledged; Google refunds purchases left
    /// unacknowledged for three days.
    pub acknowledged: bool,
}

impl PlayPurchase {
    /// Whether Tessera must acknowledge the purchase once it grants it: Google refunds
    /// a purchase left unacknowledged for three days, and only paid ones are
    /// acknowledged (never a pending one).
    pub fn needs_acknowledgement(&self) -> bool {
        !self.acknowledged
            && matches!(
                self.state,
                PlayState::Active | PlayState::InGracePeriod | PlayState::Canceled
            )
    }
}

/// Verifies Google Play purchase tokens for one app. Cheap to share: keeps one
/// connection pool and one cached access token.
pub struct PlayVerifier {
    package_name: String,
    api_base_url: String,
    token_uri: Uri,
    client_email: String,
    key_id: Option<String>,
    key: RsaKeyPair,
    rng: SystemRandom,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    access_token: Mutex<Option<AccessToken>>,
    accept_test_purchases: bool,
}

impl fmt::Debug for PlayVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlayVerifier")
            .field("package_name", &self.package_name)
            .field("api_base_url", &self.api_base_url)
            .field("token_uri", &self.token_uri)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

/// An access token and when to stop using it.
struct AccessToken {
    value: String,
    refresh_at: Instant,
}

/// The fields of a service-account key file that signing in needs.
#[derive(Deserialize)]
struct ServiceAccountKey {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

#[derive(Serialize)]
struct JwtHeader<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    scope: &'static str,
    aud: String,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// `SubscriptionPurchaseV2`, the fields Tessera reads. Google omits false booleans
/// and empty fields, hence the options.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionPurchaseV2 {
    kind: Option<String>,
    start_time: Option<DateTime<Utc>>,
    subscription_state: Option<String>,
    linked_purchase_token: Option<String>,
    acknowledgement_state: Option<String>,
    latest_order_id: Option<String>,
    external_account_identifiers: Option<ExternalAccountIdentifiers>,
    #[serde(default)]
    line_items: Vec<LineItem>,
    test_purchase: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineItem {
    product_id: String,
    expiry_time: Option<DateTime<Utc>>,
    auto_renewing_plan: Option<AutoRenewingPlan>,
    prepaid_plan: Option<IgnoredAny>,
    latest_successful_order_id: Option<String>,
    offer_details: Option<OfferDetails>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OfferDetails {
    base_plan_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalAccountIdentifiers {
    obfuscated_external_account_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AutoRenewingPlan {
    auto_renew_enabled: Option<bool>,
}

impl PlayVerifier {
    /// Reads the key file and prepares the HTTPS client. A malformed configuration is
    /// `Error::Internal`, saying what is wrong.
    pub fn new(config: PlayConfig) -> Result<Self, Error> {
        let package_name = config.package_name;
        if package_name.is_empty()
            || !package_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        {
            return Err(config_error(format!(
                "Play package name {package_name:?} is not a package name"
            )));
        }
        let key_file: ServiceAccountKey = serde_json::from_str(&config.service_account_json)
            .map_err(|e| {
                config_error(format!("Play service-account key file does not parse: {e}"))
            })?;
        if let Some(kind) = key_file.kind.as_deref().filter(|k| *k != "service_account") {
            return Err(config_error(format!(
                "Play key file is of type {kind:?}, not a service account's"
            )));
        }
        let key = RsaKeyPair::from_pkcs8(&pem_to_der(&key_file.private_key)?).map_err(|e| {
            config_error(format!(
                "Play service-account private_key is not a PKCS#8 RSA key: {e}"
            ))
        })?;

        let api_base_url = config.api_base_url.trim_end_matches('/').to_owned();
        parse_uri(&format!("{api_base_url}/androidpublisher/v3"))?;
        let token_uri = config
            .token_uri_override
            .or(key_file.token_uri)
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
        let token_uri = parse_uri(&token_uri)?;

        // Plain HTTP is allowed for local stand-ins; Google itself is HTTPS.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| config_error(format!("no TLS trust roots for Google Play: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let http = Client::builder(TokioExecutor::new()).build(connector);

        Ok(Self {
            package_name,
            api_base_url,
            token_uri,
            client_email: key_file.client_email,
            key_id: key_file.private_key_id,
            key,
            rng: SystemRandom::new(),
            http,
            access_token: Mutex::new(None),
            accept_test_purchases: config.accept_test_purchases,
        })
    }

    /// Asks Google about a subscription purchase token from the app. A license
    /// tester's purchase is refused (`PermissionDenied`, `PLAY_TEST_PURCHASE_REFUSED`)
    /// unless the configuration accepts them.
    #[tracing::instrument(skip_all, fields(package = %self.package_name))]
    pub async fn verify(&self, purchase_token: &str) -> Result<PlayPurchase, Error> {
        check_token(purchase_token)?;
        let uri = parse_uri(&format!(
            "{}/androidpublisher/v3/applications/{}/purchases/subscriptionsv2/tokens/{}",
            self.api_base_url, self.package_name, purchase_token
        ))?;

        let mut bearer = self.bearer().await?;
        let mut answer = self.get(&uri, &bearer).await?;
        if answer.0 == StatusCode::UNAUTHORIZED {
            // Google may drop a token before its expiry; try once with a fresh one.
            self.forget(&bearer).await;
            bearer = self.bearer().await?;
            answer = self.get(&uri, &bearer).await?;
        }

        let (status, body) = answer;
        match status {
            s if s.is_success() => {
                let subscription: SubscriptionPurchaseV2 =
                    serde_json::from_slice(&body).map_err(|e| {
                        Error::Internal(format!("Google Play's answer does not parse: {e}"))
                    })?;
                let play = subscription.into_purchase(purchase_token, Utc::now())?;
                if play.purchase.environment == SANDBOX && !self.accept_test_purchases {
                    return Err(Error::PermissionDenied {
                        reason: Reason::PlayTestPurchaseRefused,
                        message: "the Google Play purchase is a license tester's test \
                                  purchase; this server accepts paid purchases only"
                            .to_owned(),
                    });
                }
                Ok(play)
            }
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::GONE => {
                // 410: the subscription expired so long ago that Google forgot it.
                tracing::debug!(%status, body = %snippet(&body), "Google Play does not know the token");
                Err(Error::invalid_because(
                    "signed_proof",
                    Reason::PlayPurchaseNotFound,
                    "Google Play has no subscription purchase with this token for this app",
                ))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                tracing::error!(%status, body = %snippet(&body), "Google Play refused our access");
                Err(access_denied())
            }
            s => Err(unexpected_status("Play Developer API", s, &body)),
        }
    }

    /// Acknowledges a subscription purchase (`purchases.subscriptions.acknowledge`), as
    /// Google requires within three days of a purchase being granted, or it refunds it.
    /// `product_id` is the purchased subscription's product id, which the method's path
    /// names. Errors: as [`Self::verify`].
    #[tracing::instrument(skip_all, fields(package = %self.package_name))]
    pub async fn acknowledge(&self, purchase_token: &str, product_id: &str) -> Result<(), Error> {
        check_token(purchase_token)?;
        if product_id.is_empty()
            || !product_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        {
            return Err(Error::Internal(format!(
                "Google Play product id {product_id:?} cannot be acknowledged"
            )));
        }
        let uri = parse_uri(&format!(
            "{}/androidpublisher/v3/applications/{}/purchases/subscriptions/{}/tokens/{}:acknowledge",
            self.api_base_url, self.package_name, product_id, purchase_token
        ))?;
        let mut bearer = self.bearer().await?;
        let mut answer = self.post_empty_json(&uri, &bearer).await?;
        if answer.0 == StatusCode::UNAUTHORIZED {
            self.forget(&bearer).await;
            bearer = self.bearer().await?;
            answer = self.post_empty_json(&uri, &bearer).await?;
        }
        let (status, body) = answer;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                tracing::error!(%status, body = %snippet(&body), "Google Play refused our access");
                Err(access_denied())
            }
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::GONE => {
                Err(Error::Internal(format!(
                    "Google Play refused to acknowledge the purchase ({status}): {}",
                    snippet(&body)
                )))
            }
            s => Err(unexpected_status("Play Developer API", s, &body)),
        }
    }

    /// A current access token, fetched if none is cached or it is about to expire. The
    /// lock is held while fetching, so concurrent verifications fetch one token.
    async fn bearer(&self) -> Result<String, Error> {
        let mut cached = self.access_token.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(token.value.clone());
        }
        let fresh = self.fetch_access_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Drops the cached token if it is the one Google rejected.
    async fn forget(&self, rejected: &str) {
        let mut cached = self.access_token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == rejected) {
            *cached = None;
        }
    }

    async fn fetch_access_token(&self) -> Result<AccessToken, Error> {
        let asked_at = Instant::now();
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", JWT_BEARER_GRANT)
            .append_pair("assertion", &self.assertion(Utc::now().timestamp())?)
            .finish();
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.token_uri.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::Internal(format!("token request: {e}")))?;
        let (status, body) = self.send(request).await?;
        match status {
            s if s.is_success() => {
                let token: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
                    Error::Internal(format!(
                        "Google's token endpoint answer does not parse: {e}"
                    ))
                })?;
                let lifetime = Duration::from_secs(token.expires_in).saturating_sub(REFRESH_MARGIN);
                Ok(AccessToken {
                    value: token.access_token,
                    refresh_at: asked_at + lifetime,
                })
            }
            // invalid_grant, invalid_client, unauthorized_client: the key is revoked,
            // deleted or wrong.
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                tracing::error!(%status, body = %snippet(&body), "Google refused the service account");
                Err(access_denied())
            }
            s => Err(unexpected_status("token endpoint", s, &body)),
        }
    }

    /// The signed JWT that the token endpoint exchanges for an access token.
    fn assertion(&self, now: i64) -> Result<String, Error> {
        let header = JwtHeader {
            alg: "RS256",
            typ: "JWT",
            kid: self.key_id.as_deref(),
        };
        let claims = JwtClaims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: self.token_uri.to_string(),
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        let signing_input = format!("{}.{}", jwt_part(&header)?, jwt_part(&claims)?);
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::Internal("signing the Play token request failed".into()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// POSTs an empty JSON object (an acknowledgement request without payload).
    async fn post_empty_json(&self, uri: &Uri, bearer: &str) -> Result<(StatusCode, Bytes), Error> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(AUTHORIZATION, format!("Bearer {bearer}"))
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(b"{}")))
            .map_err(|e| Error::Internal(format!("Play request: {e}")))?;
        self.send(request).await
    }

    async fn get(&self, uri: &Uri, bearer: &str) -> Result<(StatusCode, Bytes), Error> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(uri.clone())
            .header(AUTHORIZATION, format!("Bearer {bearer}"))
            .body(Full::default())
            .map_err(|e| Error::Internal(format!("Play request: {e}")))?;
        self.send(request).await
    }

    /// Sends a request and reads the whole answer, within [`REQUEST_TIMEOUT`].
    async fn send(&self, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), Error> {
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(cause)) => {
                tracing::warn!(%cause, "Google Play is unreachable");
                Err(unavailable())
            }
            Err(_) => {
                tracing::warn!(timeout = ?REQUEST_TIMEOUT, "Google Play did not answer in time");
                Err(unavailable())
            }
        }
    }
}

impl SubscriptionPurchaseV2 {
    fn into_purchase(self, token: &str, now: DateTime<Utc>) -> Result<PlayPurchase, Error> {
        if let Some(kind) = self.kind.as_deref().filter(|k| *k != EXPECTED_KIND) {
            return Err(Error::Internal(format!(
                "Google Play answered a {kind:?}, not a subscription purchase"
            )));
        }
        let item = self
            .line_items
            .into_iter()
            .max_by_key(|item| item.expiry_time)
            .ok_or_else(|| {
                Error::Internal("Google Play answered a subscription without line items".into())
            })?;
        let state = PlayState::from_api(
            self.subscription_state
                .as_deref()
                .unwrap_or("SUBSCRIPTION_STATE_UNSPECIFIED"),
        );
        let purchased_at = self.start_time.unwrap_or(now);
        let expires_at = item.expiry_time.unwrap_or(purchased_at);
        let auto_renew = match (item.auto_renewing_plan, item.prepaid_plan) {
            (Some(plan), _) => Some(plan.auto_renew_enabled.unwrap_or(false)),
            (None, Some(_)) => Some(false),
            (None, None) => None,
        };
        let environment = if self.test_purchase.is_some() {
            SANDBOX
        } else {
            PRODUCTION
        };
        Ok(PlayPurchase {
            purchase: VerifiedPurchase {
                store: StoreKind::PlayStore,
                original_id: token.to_owned(),
                transaction_id: item
                    .latest_successful_order_id
                    .or(self.latest_order_id)
                    .unwrap_or_else(|| token.to_owned()),
                product_id: item.product_id,
                base_plan_id: item.offer_details.and_then(|offer| offer.base_plan_id),
                purchased_at,
                expires_at,
                signed_at: now,
                auto_renew,
                environment: environment.to_owned(),
                revoked: false,
                upgraded: false,
                account_token: self
                    .external_account_identifiers
                    .and_then(|ids| ids.obfuscated_external_account_id)
                    .filter(|id| !id.is_empty()),
                standing: state.standing(),
            },
            state,
            linked_purchase_token: self.linked_purchase_token,
            acknowledged: self.acknowledgement_state.as_deref()
                == Some("ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"),
        })
    }
}

/// One base64url-encoded JSON part of a JWT.
fn jwt_part(value: &impl Serialize) -> Result<String, Error> {
    let json =
        serde_json::to_vec(value).map_err(|e| Error::Internal(format!("JWT encoding: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Tokens go into the request path unescaped, so only URL-safe characters pass.
fn check_token(token: &str) -> Result<(), Error> {
    let problem = if token.is_empty() {
        "the Play purchase token is empty"
    } else if token.len() > MAX_TOKEN_LEN {
        "the Play purchase token is too long"
    } else if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        "the Play purchase token has characters no token has"
    } else {
        return Ok(());
    };
    Err(Error::invalid_because(
        "signed_proof",
        Reason::PlayTokenMalformed,
        problem,
    ))
}

/// The DER inside a `-----BEGIN PRIVATE KEY-----` block.
fn pem_to_der(pem: &str) -> Result<Vec<u8>, Error> {
    pem::decode(pem, "PRIVATE KEY").map_err(|e| match e {
        PemError::Base64(e) => config_error(format!(
            "Play service-account private_key is not valid base64: {e}"
        )),
        PemError::NoBlock | PemError::Unterminated => config_error(
            "Play service-account private_key is not a PEM \"PRIVATE KEY\" (PKCS#8) block",
        ),
    })
}

fn parse_uri(uri: &str) -> Result<Uri, Error> {
    let parsed: Uri = uri
        .parse()
        .map_err(|e| config_error(format!("Play URL {uri:?} does not parse: {e}")))?;
    if parsed.scheme().is_none() || parsed.host().is_none() {
        return Err(config_error(format!(
            "Play URL {uri:?} needs a scheme and a host"
        )));
    }
    Ok(parsed)
}

fn config_error(message: impl Into<String>) -> Error {
    Error::Internal(message.into())
}

fn access_denied() -> Error {
    Error::PermissionDenied {
        reason: Reason::PlayAccessDenied,
        message: "Google Play refused Tessera's credentials for this app".into(),
    }
}

fn unavailable() -> Error {
    Error::Unavailable {
        reason: Reason::PlayUnavailable,
        message: "Google Play cannot be reached; try again shortly".into(),
        retry_after: RETRY_AFTER,
    }
}

/// 429 and 5xx are Google being busy or failing: retryable. Anything else is a
/// surprise.
fn unexpected_status(what: &str, status: StatusCode, body: &[u8]) -> Error {
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        tracing::warn!(%status, body = %snippet(body), "Google Play {what} failed");
        unavailable()
    } else {
        Error::Internal(format!(
            "Google Play {what} answered {status}: {}",
            snippet(body)
        ))
    }
}

/// The start of an answer, for logs.
fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_api_name() {
        for state in [
            PlayState::Unspecified,
            PlayState::Pending,
            PlayState::Active,
            PlayState::Paused,
            PlayState::InGracePeriod,
            PlayState::OnHold,
            PlayState::Canceled,
            PlayState::Expired,
            PlayState::PendingPurchaseCanceled,
        ] {
            assert_eq!(PlayState::from_api(state.as_api()), state);
        }
        assert_eq!(
            PlayState::from_api("SUBSCRIPTION_STATE_NEW_IN_2030"),
            PlayState::Unspecified
        );
    }

    #[test]
    fn an_expired_subscription_has_ended_whatever_its_expiry_says() {
        let now = Utc::now();
        let answer = serde_json::json!({
            "kind": EXPECTED_KIND,
            "startTime": "2024-01-01T00:00:00Z",
            "subscriptionState": "SUBSCRIPTION_STATE_EXPIRED",
            "lineItems": [{"productId": "p", "expiryTime": "2999-01-01T00:00:00Z", "prepaidPlan": {}}],
        });
        let subscription: SubscriptionPurchaseV2 = serde_json::from_value(answer).unwrap();
        let play = subscription.into_purchase("t", now).unwrap();
        assert_eq!(play.purchase.standing, Standing::Ended);
        assert!(!play.purchase.entitles(now));
        assert_eq!(play.purchase.auto_renew, Some(false));
    }

    #[test]
    fn a_pending_purchase_entitles_to_nothing() {
        let now = Utc::now();
        let answer = serde_json::json!({
            "kind": EXPECTED_KIND,
            "subscriptionState": "SUBSCRIPTION_STATE_PENDING",
            "lineItems": [{"productId": "p"}],
        });
        let subscription: SubscriptionPurchaseV2 = serde_json::from_value(answer).unwrap();
        let play = subscription.into_purchase("t", now).unwrap();
        assert_eq!(play.state, PlayState::Pending);
        assert_eq!(play.purchase.purchased_at, now);
        assert_eq!(play.purchase.expires_at, now);
        assert_eq!(play.purchase.auto_renew, None);
        assert_eq!(play.purchase.standing, Standing::Pending);
        assert!(!play.needs_acknowledgement());
    }
}
