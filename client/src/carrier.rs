//! The client for carrier provisioning systems: the carrier lifecycle of
//! `SubscriptionService`, authenticated with a partner API key and retried safely.

use std::{
    fmt,
    future::Future,
    time::{Duration, SystemTime},
};

use tonic::{
    Request, Response, Status,
    metadata::AsciiMetadataValue,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};

use crate::{pb, retry::RetryPolicy};

type Stub = pb::subscription_service_client::SubscriptionServiceClient<Channel>;

/// Page size `find_by_reference` asks for: the largest the server allows.
const FIND_PAGE_SIZE: i32 = 100;

/// How a [`CarrierClient`] reaches Tessera.
///
/// Built with [`CarrierConfig::new`] and the `with_*` setters:
///
/// ```
/// use std::time::Duration;
/// use tessera_client::{CarrierConfig, RetryPolicy};
///
/// let config = CarrierConfig::new("https://tessera.example.com", "tk_live_…")
///     .with_default_deadline(Duration::from_secs(5))
///     .with_retry(RetryPolicy { max_attempts: 3, ..RetryPolicy::default() });
/// ```
#[derive(Clone)]
pub struct CarrierConfig {
    endpoint: String,
    api_key: String,
    default_deadline: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    ca_certificate_pem: Option<Vec<u8>>,
    tls_domain_name: Option<String>,
    client_certificate: Option<(Vec<u8>, Vec<u8>)>,
}

impl CarrierConfig {
    /// A configuration for the server at `endpoint` (`http://host:port`, or
    /// `https://host[:port]` for TLS checked against the system's root certificates),
    /// calling with the partner API key `api_key` (empty to authenticate with a client
    /// certificate alone, see [`CarrierConfig::with_client_certificate_pem`]).
    ///
    /// Defaults: a deadline of 10 s per attempt, 5 s to open a connection, and
    /// [`RetryPolicy::default`] (5 attempts, backoff from 100 ms up to 5 s).
    pub fn new(endpoint: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            api_key: api_key.into(),
            default_deadline: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            ca_certificate_pem: None,
            tls_domain_name: None,
            client_certificate: None,
        }
    }

    /// How long one attempt of a call may take. It is sent to the server as the call's
    /// `grpc-timeout` and enforced by the client too; an attempt that runs out fails
    /// with `DEADLINE_EXCEEDED` and is retried.
    pub fn with_default_deadline(mut self, deadline: Duration) -> Self {
        self.default_deadline = deadline;
        self
    }

    /// How long opening a connection may take.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How failed calls are retried.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Also trusts the certificate authority in `pem` (for example a private CA in a
    /// test environment). Needs an `https://` endpoint.
    pub fn with_ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificate_pem = Some(pem.into());
        self
    }

    /// Checks the server's certificate against `domain_name` instead of the endpoint's
    /// host. Needs an `https://` endpoint.
    pub fn with_tls_domain_name(mut self, domain_name: impl Into<String>) -> Self {
        self.tls_domain_name = Some(domain_name.into());
        self
    }

    /// Presents the client certificate `certificate_pem` (with its private key `key_pem`)
    /// in the TLS handshake: mutual TLS. Once the vendor has bound the certificate to the
    /// partner (`tessera partner cert add`), calls without an API key authenticate as the
    /// partner; pass an empty API key to [`CarrierConfig::new`] to rely on it alone. Needs
    /// an `https://` endpoint.
    pub fn with_client_certificate_pem(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_certificate = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// A channel to the configured server with the configured TLS options, for the
    /// generated stubs or an [`EventWatcher`](crate::EventWatcher).
    pub async fn channel(&self) -> Result<Channel, Error> {
        Ok(self.endpoint()?.connect().await?)
    }

    fn endpoint(&self) -> Result<Endpoint, Error> {
        let tls = if self.endpoint.starts_with("https://") {
            true
        } else if self.endpoint.starts_with("http://") {
            false
        } else {
            return Err(Error::InvalidConfig(format!(
                "endpoint {:?} must start with http:// or https://",
                self.endpoint
            )));
        };
        let endpoint = Endpoint::from_shared(self.endpoint.clone())?
            .tcp_nodelay(true)
            .connect_timeout(self.connect_timeout);
        if !tls {
            if self.ca_certificate_pem.is_some()
                || self.tls_domain_name.is_some()
                || self.client_certificate.is_some()
            {
                return Err(Error::InvalidConfig(
                    "a CA certificate, TLS domain name or client certificate needs an \
                     https:// endpoint"
                        .into(),
                ));
            }
            return Ok(endpoint);
        }
        let mut tls_config = ClientTlsConfig::new().with_native_roots();
        if let Some(pem) = &self.ca_certificate_pem {
            tls_config = tls_config.ca_certificate(Certificate::from_pem(pem));
        }
        if let Some(domain_name) = &self.tls_domain_name {
            tls_config = tls_config.domain_name(domain_name);
        }
        if let Some((certificate, key)) = &self.client_certificate {
            tls_config = tls_config.identity(Identity::from_pem(certificate, key));
        }
        Ok(endpoint.tls_config(tls_config)?)
    }
}

impl fmt::Debug for CarrierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CarrierConfig")
            .field("endpoint", &self.endpoint)
            .field("api_key", &"<redacted>")
            .field("default_deadline", &self.default_deadline)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .field("ca_certificate_pem", &self.ca_certificate_pem.is_some())
            .field("tls_domain_name", &self.tls_domain_name)
            .field("client_certificate", &self.client_certificate.is_some())
            .finish()
    }
}

/// Why a [`CarrierClient`] could not be set up. Calls, once set up, fail with a
/// [`tonic::Status`] instead.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work: an endpoint that is not `http://` or `https://`,
    /// an API key with characters not allowed in metadata, TLS options on a plain-text
    /// endpoint.
    InvalidConfig(String),
    /// The endpoint could not be parsed, the TLS setup failed, or the server could not
    /// be reached.
    Transport(tonic::transport::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(message) => {
                write!(f, "invalid carrier client configuration: {message}")
            }
            Error::Transport(error) => write!(f, "cannot reach Tessera: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::InvalidConfig(_) => None,
            Error::Transport(error) => Some(error),
        }
    }
}

impl From<tonic::transport::Error> for Error {
    fn from(error: tonic::transport::Error) -> Self {
        Error::Transport(error)
    }
}

/// A new request id for one logical operation: a random UUID.
///
/// The plain methods of [`CarrierClient`] make one themselves. Call this instead when the
/// id must outlive the process: store it with the pending operation *before* the first
/// call, and pass it to the `*_with_id` method on every try, including after a restart.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A client for carrier provisioning systems, authenticated with a partner API key.
///
/// It sees only the subscriptions its partner provisioned, and only as counts (never the
/// customer's devices). Every method makes one logical operation: a change gets one
/// request id, reused by every automatic retry, so Tessera applies it at most once. See
/// the [crate documentation](crate) for an example.
///
/// Failures are [`tonic::Status`] values; [`crate::error_reason`] reads the
/// machine-readable reason (for example `SEAT_LIMIT_BELOW_ACTIVE_SEATS`). A subscription
/// of another partner answers `NOT_FOUND` exactly as a missing one does.
///
/// Cloning is cheap and clones share the connection.
#[derive(Clone)]
pub struct CarrierClient {
    stub: Stub,
    /// `None` with an empty API key: the client certificate authenticates.
    authorization: Option<AsciiMetadataValue>,
    default_deadline: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for CarrierClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CarrierClient")
            .field("authorization", &"<redacted>")
            .field("default_deadline", &self.default_deadline)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl CarrierClient {
    /// Connects to Tessera as `config` says, failing at once when the server cannot be
    /// reached. Later connection losses are repaired by themselves and surface, if they
    /// last, as `UNAVAILABLE` calls.
    pub async fn connect(config: CarrierConfig) -> Result<Self, Error> {
        let channel = config.endpoint()?.connect().await?;
        Self::with_config(channel, &config)
    }

    /// Like [`CarrierClient::connect`], but connects on the first call instead, so a
    /// carrier system can start while Tessera is down. Must be called within a Tokio
    /// runtime.
    pub fn connect_lazy(config: CarrierConfig) -> Result<Self, Error> {
        let channel = config.endpoint()?.connect_lazy();
        Self::with_config(channel, &config)
    }

    /// A client over an existing channel (for example one to an in-process test server),
    /// with the default deadline and retry policy of [`CarrierConfig::new`].
    pub fn from_channel(channel: Channel, api_key: &str) -> Result<Self, Error> {
        Self::with_config(channel, &CarrierConfig::new("", api_key))
    }

    fn with_config(channel: Channel, config: &CarrierConfig) -> Result<Self, Error> {
        let authorization = if config.api_key.is_empty() {
            None
        } else {
            Some(format!("Bearer {}", config.api_key).parse().map_err(|_| {
                Error::InvalidConfig("the API key has characters not allowed in metadata".into())
            })?)
        };
        Ok(Self {
            stub: Stub::new(channel),
            authorization,
            default_deadline: config.default_deadline,
            retry: config.retry.clone(),
        })
    }

    /// This client with another per-attempt deadline (see
    /// [`CarrierConfig::with_default_deadline`]).
    pub fn with_default_deadline(mut self, deadline: Duration) -> Self {
        self.default_deadline = deadline;
        self
    }

    /// This client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Provisions a subscription of `plan` for the carrier's customer contract
    /// `partner_reference`, starting at `start_time` (now when `None`). The response
    /// holds the unclaimed subscription and the partner code to hand to the customer.
    ///
    /// `plan` is `plans/{plan_code}` or the bare code. Provisioning is idempotent on the
    /// request id only, not on the reference: two calls provision two subscriptions. If
    /// a crash may come between the call and storing its result, use
    /// [`provision_with_id`](Self::provision_with_id) with a stored id.
    pub async fn provision(
        &self,
        partner_reference: &str,
        plan: &str,
        start_time: Option<SystemTime>,
    ) -> Result<pb::ProvisionSubscriptionResponse, Status> {
        self.provision_with_id(&new_request_id(), partner_reference, plan, start_time)
            .await
    }

    /// [`provision`](Self::provision) with a caller-chosen request id (1 to 128
    /// printable characters). Trying again with the same id and the same arguments
    /// returns the first response, partner code included, for at least 72 hours;
    /// the same id with other arguments fails with `INVALID_ARGUMENT` (reason
    /// `REQUEST_ID_REUSED`) — so pass the same `start_time`, not a fresh "now".
    pub async fn provision_with_id(
        &self,
        request_id: &str,
        partner_reference: &str,
        plan: &str,
        start_time: Option<SystemTime>,
    ) -> Result<pb::ProvisionSubscriptionResponse, Status> {
        let plan = plan_name(plan);
        self.call(
            request_id,
            |request_id| pb::ProvisionSubscriptionRequest {
                partner_reference: partner_reference.to_owned(),
                plan: plan.clone(),
                start_time: start_time.map(Into::into),
                request_id,
            },
            |mut stub, request| async move { stub.provision_subscription(request).await },
        )
        .await
    }

    /// Returns a subscription (`subscriptions/{id}`) with its seat limit, active seat
    /// count, status and days left.
    pub async fn get(&self, name: &str) -> Result<pb::Subscription, Status> {
        self.call(
            "",
            |_| pb::GetSubscriptionRequest {
                name: name.to_owned(),
            },
            |mut stub, request| async move { stub.get_subscription(request).await },
        )
        .await
    }

    /// Every subscription provisioned for the customer contract `partner_reference`,
    /// newest first, whatever its status. Reads all pages.
    pub async fn find_by_reference(
        &self,
        partner_reference: &str,
    ) -> Result<Vec<pb::Subscription>, Status> {
        let mut found = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .list_page(partner_reference, None, FIND_PAGE_SIZE, &page_token)
                .await?;
            found.extend(page.subscriptions);
            if page.next_page_token.is_empty() {
                return Ok(found);
            }
            page_token = page.next_page_token;
        }
    }

    /// One page of the partner's subscriptions, newest first, only those in `status`
    /// when given. `page_size` is 1 to 100, or 0 for the server's default (50);
    /// `page_token` is empty for the first page, then the previous page's
    /// `next_page_token`, which is empty after the last page.
    pub async fn list(
        &self,
        status: Option<pb::SubscriptionStatus>,
        page_size: u32,
        page_token: &str,
    ) -> Result<pb::ListPartnerSubscriptionsResponse, Status> {
        let page_size = i32::try_from(page_size).unwrap_or(i32::MAX);
        self.list_page("", status, page_size, page_token).await
    }

    async fn list_page(
        &self,
        partner_reference: &str,
        status: Option<pb::SubscriptionStatus>,
        page_size: i32,
        page_token: &str,
    ) -> Result<pb::ListPartnerSubscriptionsResponse, Status> {
        let status = status.unwrap_or(pb::SubscriptionStatus::Unspecified);
        self.call(
            "",
            |_| pb::ListPartnerSubscriptionsRequest {
                partner_reference: partner_reference.to_owned(),
                status: status.into(),
                page_size,
                page_token: page_token.to_owned(),
            },
            |mut stub, request| async move { stub.list_partner_subscriptions(request).await },
        )
        .await
    }

    /// Moves a subscription to `plan` (`plans/{plan_code}` or the bare code). When the
    /// new plan has fewer seats than active devices, `downgrade_policy` decides:
    /// `Reject` (also for `Unspecified`) fails with `FAILED_PRECONDITION` (reason
    /// `SEAT_LIMIT_BELOW_ACTIVE_SEATS`); `DeactivateLeastRecentlySeen` frees seats and
    /// reports how many.
    pub async fn change_plan(
        &self,
        name: &str,
        plan: &str,
        downgrade_policy: pb::DowngradePolicy,
    ) -> Result<pb::ChangePlanResponse, Status> {
        self.change_plan_with_id(&new_request_id(), name, plan, downgrade_policy)
            .await
    }

    /// [`change_plan`](Self::change_plan) with a caller-chosen request id.
    pub async fn change_plan_with_id(
        &self,
        request_id: &str,
        name: &str,
        plan: &str,
        downgrade_policy: pb::DowngradePolicy,
    ) -> Result<pb::ChangePlanResponse, Status> {
        let plan = plan_name(plan);
        self.call(
            request_id,
            |request_id| pb::ChangePlanRequest {
                name: name.to_owned(),
                plan: plan.clone(),
                downgrade_policy: downgrade_policy.into(),
                request_id,
            },
            |mut stub, request| async move { stub.change_plan(request).await },
        )
        .await
    }

    /// Suspends a subscription (for example for non-payment): its devices keep their
    /// seats but are told they are not protected. Suspending it again changes nothing.
    pub async fn suspend(&self, name: &str) -> Result<pb::Subscription, Status> {
        self.suspend_with_id(&new_request_id(), name).await
    }

    /// [`suspend`](Self::suspend) with a caller-chosen request id.
    pub async fn suspend_with_id(
        &self,
        request_id: &str,
        name: &str,
    ) -> Result<pb::Subscription, Status> {
        self.call(
            request_id,
            |request_id| pb::SuspendSubscriptionRequest {
                name: name.to_owned(),
                request_id,
            },
            |mut stub, request| async move { stub.suspend_subscription(request).await },
        )
        .await
    }

    /// Lifts a suspension. Resuming an active subscription changes nothing.
    pub async fn resume(&self, name: &str) -> Result<pb::Subscription, Status> {
        self.resume_with_id(&new_request_id(), name).await
    }

    /// [`resume`](Self::resume) with a caller-chosen request id.
    pub async fn resume_with_id(
        &self,
        request_id: &str,
        name: &str,
    ) -> Result<pb::Subscription, Status> {
        self.call(
            request_id,
            |request_id| pb::ResumeSubscriptionRequest {
                name: name.to_owned(),
                request_id,
            },
            |mut stub, request| async move { stub.resume_subscription(request).await },
        )
        .await
    }

    /// Cancels a subscription: `immediately` stops protecting every device now;
    /// otherwise it ends at the end of its term. Fails with `FAILED_PRECONDITION`
    /// (reason `SUBSCRIPTION_NOT_CANCELLABLE`) when it has already ended.
    pub async fn cancel(&self, name: &str, immediately: bool) -> Result<pb::Subscription, Status> {
        self.cancel_with_id(&new_request_id(), name, immediately)
            .await
    }

    /// [`cancel`](Self::cancel) with a caller-chosen request id.
    pub async fn cancel_with_id(
        &self,
        request_id: &str,
        name: &str,
        immediately: bool,
    ) -> Result<pb::Subscription, Status> {
        self.call(
            request_id,
            |request_id| pb::CancelSubscriptionRequest {
                name: name.to_owned(),
                immediately,
                request_id,
            },
            |mut stub, request| async move { stub.cancel_subscription(request).await },
        )
        .await
    }

    /// Renews a subscription to `end_time`, which must be later than the current end, or
    /// by one term of its plan when `None`. A subscription in grace or expired becomes
    /// active again.
    ///
    /// With `None` every *new* request id extends the term once more: when the outcome
    /// of a renewal is uncertain after the retries, try again with
    /// [`renew_with_id`](Self::renew_with_id) and the same id rather than calling this.
    pub async fn renew(
        &self,
        name: &str,
        end_time: Option<SystemTime>,
    ) -> Result<pb::Subscription, Status> {
        self.renew_with_id(&new_request_id(), name, end_time).await
    }

    /// [`renew`](Self::renew) with a caller-chosen request id.
    pub async fn renew_with_id(
        &self,
        request_id: &str,
        name: &str,
        end_time: Option<SystemTime>,
    ) -> Result<pb::Subscription, Status> {
        self.call(
            request_id,
            |request_id| pb::RenewSubscriptionRequest {
                name: name.to_owned(),
                end_time: end_time.map(Into::into),
                request_id,
            },
            |mut stub, request| async move { stub.renew_subscription(request).await },
        )
        .await
    }

    /// Issues a new partner code for a subscription no customer has claimed yet; the
    /// previous code stops working. Fails with `FAILED_PRECONDITION` (reason
    /// `SUBSCRIPTION_ALREADY_CLAIMED`) once a customer redeemed it.
    pub async fn reissue_partner_code(
        &self,
        name: &str,
    ) -> Result<pb::ReissuePartnerCodeResponse, Status> {
        self.reissue_partner_code_with_id(&new_request_id(), name)
            .await
    }

    /// [`reissue_partner_code`](Self::reissue_partner_code) with a caller-chosen request
    /// id.
    pub async fn reissue_partner_code_with_id(
        &self,
        request_id: &str,
        name: &str,
    ) -> Result<pb::ReissuePartnerCodeResponse, Status> {
        self.call(
            request_id,
            |request_id| pb::ReissuePartnerCodeRequest {
                name: name.to_owned(),
                request_id,
            },
            |mut stub, request| async move { stub.reissue_partner_code(request).await },
        )
        .await
    }

    /// Makes one logical call: builds the message for `request_id` (empty for reads),
    /// authenticates it, bounds each attempt by the deadline, and retries by the policy.
    async fn call<M, T, Fut>(
        &self,
        request_id: &str,
        message: impl Fn(String) -> M,
        send: impl Fn(Stub, Request<M>) -> Fut,
    ) -> Result<T, Status>
    where
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let deadline = self.default_deadline;
        self.retry
            .run(request_id, |request_id| {
                let mut request = Request::new(message(request_id));
                if let Some(authorization) = &self.authorization {
                    request
                        .metadata_mut()
                        .insert("authorization", authorization.clone());
                }
                request.set_timeout(deadline);
                let response = send(self.stub.clone(), request);
                async move {
                    // grpc-timeout only asks the server to give up; a silent network
                    // needs the client to stop waiting too.
                    match tokio::time::timeout(deadline, response).await {
                        Ok(result) => result.map(Response::into_inner),
                        Err(_) => Err(Status::deadline_exceeded(format!(
                            "no answer from Tessera within {deadline:?}"
                        ))),
                    }
                }
            })
            .await
    }
}

/// `plans/{code}` for a plan given by name or by bare code.
fn plan_name(plan: &str) -> String {
    if plan.starts_with("plans/") {
        plan.to_owned()
    } else {
        format!("plans/{plan}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_may_be_named_by_code_or_by_resource_name() {
        assert_eq!(plan_name("premium-10"), "plans/premium-10");
        assert_eq!(plan_name("plans/premium-10"), "plans/premium-10");
    }

    #[test]
    fn endpoints_need_an_http_or_https_scheme() {
        let error = CarrierConfig::new("tessera.example.com:443", "key")
            .endpoint()
            .unwrap_err();
        assert!(matches!(error, Error::InvalidConfig(_)), "{error}");
        assert!(
            CarrierConfig::new("http://127.0.0.1:50051", "key")
                .endpoint()
                .is_ok()
        );
        assert!(
            CarrierConfig::new("https://tessera.example.com", "key")
                .endpoint()
                .is_ok()
        );
    }

    #[test]
    fn tls_options_on_a_plain_text_endpoint_are_refused() {
        let error = CarrierConfig::new("http://127.0.0.1:50051", "key")
            .with_tls_domain_name("tessera.example.com")
            .endpoint()
            .unwrap_err();
        assert!(matches!(error, Error::InvalidConfig(_)), "{error}");
    }

    #[test]
    fn debug_output_hides_the_api_key() {
        let config = CarrierConfig::new("http://127.0.0.1:50051", "tk_secret_value");
        assert!(!format!("{config:?}").contains("tk_secret_value"));
    }

    #[tokio::test]
    async fn api_keys_must_fit_in_metadata() {
        let channel = Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let error = CarrierClient::from_channel(channel.clone(), "bad\nkey").unwrap_err();
        assert!(matches!(error, Error::InvalidConfig(_)), "{error}");
        let client = CarrierClient::from_channel(channel, "tk_secret_value").unwrap();
        assert!(!format!("{client:?}").contains("tk_secret_value"));
    }

    #[tokio::test]
    async fn an_unreachable_server_is_retried_then_reported_unavailable() {
        let channel = Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let client = CarrierClient::from_channel(channel, "key")
            .unwrap()
            .with_retry(RetryPolicy {
                max_attempts: 2,
                initial_backoff: Duration::from_millis(1),
                ..RetryPolicy::default()
            });
        let status = client.suspend("subscriptions/x").await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    }
}
