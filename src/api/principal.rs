//! Authentication at the edge. [`AuthenticateLayer`] looks up the bearer token of every
//! call once, before any handler, and puts the outcome into the request's extensions;
//! a handler states the roles it accepts as types — `caller::<(Account, Admin), _>` —
//! so a misspelt role does not compile.
//!
//! A partner may also authenticate with a client certificate (mutual TLS): when a call
//! carries no bearer token but its connection presented a certificate bound to a partner
//! (the transport puts it into the extensions as a [`ClientCertificate`]), the call is the
//! partner's. A bearer token, when sent, decides alone.

use crate::{
    domain::principal::{Principal, PrincipalKind},
    error::{Error, Reason, Result},
    service::Services,
    transport::ClientCertificate,
};
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};
use tonic::{Request, codegen::http};
use tower::{Layer, Service};
use uuid::Uuid;

/// The outcome of authentication, as the layer leaves it in the extensions.
#[derive(Debug, Clone)]
pub enum Authentication {
    /// No `authorization: Bearer` metadata.
    Missing,
    /// A token that is unknown, expired or revoked.
    Invalid,
    /// The database could not be asked.
    Unavailable,
    /// Who is calling.
    Authenticated(Principal),
}

const MISSING: Error = Error::Unauthenticated {
    reason: Reason::CredentialsMissing,
    message: "send `authorization: Bearer <token>` metadata",
};
const INVALID: Error = Error::Unauthenticated {
    reason: Reason::CredentialsInvalid,
    message: "the bearer token is unknown, expired or revoked",
};

/// A kind of caller a handler accepts.
pub trait Role {
    /// The principal kind it stands for.
    const KIND: PrincipalKind;
}

/// The admin token.
pub struct Admin;
/// An account session.
pub struct Account;
/// A partner API key.
pub struct Partner;
/// A device token.
pub struct Device;

impl Role for Admin {
    const KIND: PrincipalKind = PrincipalKind::Admin;
}
impl Role for Account {
    const KIND: PrincipalKind = PrincipalKind::Account;
}
impl Role for Partner {
    const KIND: PrincipalKind = PrincipalKind::Partner;
}
impl Role for Device {
    const KIND: PrincipalKind = PrincipalKind::Device;
}

/// A set of roles: a tuple of [`Role`]s.
pub trait Roles {
    /// The kinds in the set.
    fn kinds() -> Vec<PrincipalKind>;
}

impl<A: Role> Roles for (A,) {
    fn kinds() -> Vec<PrincipalKind> {
        vec![A::KIND]
    }
}
impl<A: Role, B: Role> Roles for (A, B) {
    fn kinds() -> Vec<PrincipalKind> {
        vec![A::KIND, B::KIND]
    }
}
impl<A: Role, B: Role, C: Role> Roles for (A, B, C) {
    fn kinds() -> Vec<PrincipalKind> {
        vec![A::KIND, B::KIND, C::KIND]
    }
}

/// Whoever is calling, authenticated. Errors: `Unauthenticated` (CREDENTIALS_MISSING,
/// CREDENTIALS_INVALID); `Unavailable` when the database could not be asked.
pub fn anyone<T>(request: &Request<T>) -> Result<Principal> {
    match request.extensions().get::<Authentication>() {
        Some(Authentication::Authenticated(principal)) => Ok(*principal),
        Some(Authentication::Invalid) => Err(INVALID),
        Some(Authentication::Unavailable) => Err(Error::Unavailable {
            reason: Reason::StorageUnavailable,
            message: "storage is unavailable, retry later".to_owned(),
            retry_after: std::time::Duration::from_secs(1),
        }),
        Some(Authentication::Missing) | None => Err(MISSING),
    }
}

/// The caller, if it is one of the roles `R`. Errors: as [`anyone`], and
/// `PermissionDenied` (PRINCIPAL_NOT_ALLOWED) for another kind of caller.
pub fn caller<R: Roles, T>(request: &Request<T>) -> Result<Principal> {
    let principal = anyone(request)?;
    let allowed = R::kinds();
    if allowed.contains(&principal.kind()) {
        return Ok(principal);
    }
    let names: Vec<&str> = allowed.iter().map(|kind| kind.as_str()).collect();
    Err(Error::PermissionDenied {
        reason: Reason::PrincipalNotAllowed,
        message: format!(
            "a {} credential cannot call this method; use one of: {}",
            principal.kind().as_str(),
            names.join(", ")
        ),
    })
}

/// The account of an account session; other callers are refused.
pub fn account<T>(request: &Request<T>) -> Result<Uuid> {
    match caller::<(Account,), T>(request)? {
        Principal::Account(id) => Ok(id),
        _ => unreachable!("the role check admits only accounts"),
    }
}

/// The partner of a partner key; other callers are refused.
pub fn partner<T>(request: &Request<T>) -> Result<Uuid> {
    match caller::<(Partner,), T>(request)? {
        Principal::Partner(id) => Ok(id),
        _ => unreachable!("the role check admits only partners"),
    }
}

/// Whether `credential`, with which a call was authenticated as `principal`, still stands for
/// it: for streams, which outlive the moment they were authenticated.
/// Errors: `Unauthenticated` (CREDENTIALS_INVALID) once it is revoked, expired or signed
/// out, or its partner disabled; `PermissionDenied` (PRINCIPAL_NOT_ALLOWED) when it now
/// stands for less (a device whose seat was removed); `Unavailable` when the store
/// cannot be asked.
pub async fn recheck(
    services: &Services,
    credential: &Credential,
    principal: Principal,
) -> Result<()> {
    let now = match credential {
        Credential::Token(token) => services.authenticate(token).await?,
        Credential::Certificate(certificate) => {
            services.authenticate_certificate(certificate.der()).await?
        }
        Credential::Missing => None,
    };
    match now {
        Some(now) if now == principal => Ok(()),
        Some(_) => Err(Error::PermissionDenied {
            reason: Reason::PrincipalNotAllowed,
            message: "this credential no longer reaches what the call was opened for".to_owned(),
        }),
        None => Err(INVALID),
    }
}

/// What a call authenticated with, as [`AuthenticateLayer`] chose it: the bearer token
/// when one was sent, else the client certificate. Streams keep it to [`recheck`] it.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `authorization: Bearer <token>`.
    Token(String),
    /// A verified client certificate (mutual TLS), with no bearer token.
    Certificate(ClientCertificate),
    /// Neither.
    Missing,
}

impl Credential {
    /// The credential of `request`.
    pub fn of<T>(request: &Request<T>) -> Self {
        if let Some(token) = bearer_token(request.metadata().as_ref()) {
            return Self::Token(token.to_owned());
        }
        match request.extensions().get::<ClientCertificate>() {
            Some(certificate) => Self::Certificate(certificate.clone()),
            None => Self::Missing,
        }
    }
}

/// The token of `authorization: Bearer <token>`, if present.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The id the logs name a principal by: the account, the partner, the device's seat;
/// the admin has none.
fn logged_id(principal: Principal) -> Option<Uuid> {
    match principal {
        Principal::Admin => None,
        Principal::Account(id) | Principal::Partner(id) => Some(id),
        Principal::Device { seat_id, .. } => Some(seat_id),
    }
}

/// Authenticates every call: see the module's documentation.
#[derive(Debug, Clone)]
pub struct AuthenticateLayer {
    services: Services,
}

impl AuthenticateLayer {
    /// The layer over the services that know the tokens.
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

impl<S> Layer<S> for AuthenticateLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            services: self.services.clone(),
        }
    }
}

/// The service [`AuthenticateLayer`] makes.
#[derive(Debug, Clone)]
pub struct Authenticate<S> {
    inner: S,
    services: Services,
}

impl<S, B> Service<http::Request<B>> for Authenticate<S>
where
    S: Service<http::Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone that was made ready serves this call; the fresh one waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let services = self.services.clone();
        Box::pin(async move {
            let token = bearer_token(request.headers()).map(str::to_owned);
            let certificate = request.extensions().get::<ClientCertificate>().cloned();
            let found = match (token, certificate) {
                (None, None) => None,
                (Some(token), _) => Some(services.authenticate(&token).await),
                (None, Some(certificate)) => {
                    Some(services.authenticate_certificate(certificate.der()).await)
                }
            };
            let outcome = match found {
                None => Authentication::Missing,
                Some(found) => match found {
                    Ok(Some(principal)) => {
                        let span = tracing::Span::current();
                        span.record("principal", principal.kind().as_str());
                        if let Some(id) = logged_id(principal) {
                            span.record("principal_id", tracing::field::display(id));
                        }
                        Authentication::Authenticated(principal)
                    }
                    Ok(None) => Authentication::Invalid,
                    Err(error) => {
                        tracing::error!(%error, "authentication could not reach the store");
                        Authentication::Unavailable
                    }
                },
            };
            request.extensions_mut().insert(outcome);
            inner.call(request).await
        })
    }
}
