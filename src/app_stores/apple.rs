//! Apple App Store: offline verification of a signed transaction, the `JWSTransaction`
//! that StoreKit 2 hands the app (`signedTransactionInfo` in the App Store Server API).
//!
//! The proof is a JWS signed with ES256 whose `x5c` header carries Apple's certificate
//! chain: leaf, intermediate (Apple Worldwide Developer Relations) and root. It is
//! trusted only when the root is *our* pinned root byte for byte, each link is signed by
//! the next, both Apple marker extensions are present (without them any certificate that
//! Apple issued to any developer would do), every certificate was valid when Apple
//! signed the transaction, and the leaf's key signed the token. Only then is the payload
//! read, and it must name our bundle id and environment.

use crate::domain::purchase::{RenewalInfo, Standing, StoreKind, VerifiedPurchase};
use crate::error::{Error, Reason};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Apple Root CA - G3 in DER, as published at
/// <https://www.apple.com/certificateauthority/AppleRootCA-G3.cer>.
/// SHA-256 fingerprint `63343ABF B89A6A03 EBB57E9B 3F5FA7BE 7C4F5C75 6F3017B3 A8C488C3 653E9179`.
pub const APPLE_ROOT_CA_G3_DER: &[u8] = include_bytes!("AppleRootCA-G3.cer");

/// Extension Apple puts on the certificate that signs App Store receipts and transactions.
pub const LEAF_MARKER_OID: &str = "1.2.840.113635.100.6.11.1";

/// Extension Apple puts on its Worldwide Developer Relations intermediate certificates.
pub const INTERMEDIATE_MARKER_OID: &str = "1.2.840.113635.100.6.2.1";

/// The request field the proof arrives in, named in every error.
const FIELD: &str = "signed_proof";
/// The request field a renewal info arrives in.
const RENEWAL_FIELD: &str = "signed_renewal_info";

/// What an App Store proof must chain to and be for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppleConfig {
    /// The trusted root certificate (DER); normally [`APPLE_ROOT_CA_G3_DER`].
    pub root_certificate_der: Vec<u8>,
    /// The app's bundle id, e.g. "com.example.suite".
    pub bundle_id: String,
    /// The accepted environment: "Production" or "Sandbox".
    pub environment: String,
}

impl AppleConfig {
    /// A configuration that trusts Apple Root CA - G3.
    pub fn with_apple_root(bundle_id: impl Into<String>, environment: impl Into<String>) -> Self {
        Self {
            root_certificate_der: APPLE_ROOT_CA_G3_DER.to_vec(),
            bundle_id: bundle_id.into(),
            environment: environment.into(),
        }
    }
}

/// Verifies App Store signed transactions against one [`AppleConfig`]. Pure: no I/O.
#[derive(Debug, Clone)]
pub struct AppleVerifier {
    config: AppleConfig,
}

/// The payload fields Tessera reads; Apple's dates are milliseconds since the epoch.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransactionPayload {
    bundle_id: Option<String>,
    environment: Option<String>,
    original_transaction_id: Option<String>,
    transaction_id: Option<String>,
    product_id: Option<String>,
    purchase_date: Option<i64>,
    expires_date: Option<i64>,
    signed_date: Option<i64>,
    revocation_date: Option<i64>,
    #[serde(default)]
    is_upgraded: bool,
    app_account_token: Option<String>,
}

/// The fields of a signed renewal info (`JWSRenewalInfoDecodedPayload`) Tessera reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RenewalPayload {
    environment: Option<String>,
    original_transaction_id: Option<String>,
    auto_renew_status: Option<i64>,
    signed_date: Option<i64>,
}

/// Only the signing date, read before the signature is checked: the certificates must
/// have been valid then.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignedDate {
    signed_date: Option<i64>,
}

impl AppleVerifier {
    /// A verifier for the given configuration.
    pub fn new(config: AppleConfig) -> Self {
        Self { config }
    }

    /// Verifies a signed transaction and returns the purchase it proves.
    ///
    /// Errors: `InvalidArgument` on `signed_proof` with an `APPLE_PROOF_*` reason when the
    /// proof is malformed, forged or broken; `PermissionDenied` (`APPLE_PROOF_WRONG_BUNDLE`,
    /// `APPLE_PROOF_WRONG_ENVIRONMENT`) when Apple signed it but for another app or
    /// environment. `now` is the validity instant only if the payload has no `signedDate`.
    pub fn verify(&self, jws: &str, now: DateTime<Utc>) -> Result<VerifiedPurchase, Error> {
        let payload_bytes = self.verify_signature(jws, now)?;
        let payload: TransactionPayload = serde_json::from_slice(&payload_bytes)
            .map_err(|e| malformed(format!("the proof's payload is not a transaction: {e}")))?;
        self.read_purchase(payload, now)
    }

    /// Verifies a signed renewal info (`JWSRenewalInfo`, StoreKit's
    /// `RenewalInfo.jwsRepresentation`) exactly as a transaction, and reads whether the
    /// subscription renews. Renewal infos carry no bundle id; the environment must match.
    /// Errors: as [`Self::verify`], on the field `signed_renewal_info`.
    pub fn verify_renewal_info(&self, jws: &str, now: DateTime<Utc>) -> Result<RenewalInfo, Error> {
        let read = || {
            let payload_bytes = self.verify_signature(jws, now)?;
            let payload: RenewalPayload = serde_json::from_slice(&payload_bytes).map_err(|e| {
                malformed(format!("the proof's payload is not a renewal info: {e}"))
            })?;
            let environment = required(payload.environment, "environment")?;
            self.check_environment(&environment)?;
            let auto_renew = match required(payload.auto_renew_status, "autoRenewStatus")? {
                0 => false,
                1 => true,
                other => {
                    return Err(malformed(format!(
                        "the renewal info's autoRenewStatus is {other}, neither 0 nor 1"
                    )));
                }
            };
            Ok(RenewalInfo {
                original_id: required(payload.original_transaction_id, "originalTransactionId")?,
                auto_renew,
                signed_at: match payload.signed_date {
                    Some(ms) => millis(ms, "signedDate")?,
                    None => now,
                },
            })
        };
        read().map_err(|error| match error {
            Error::InvalidArgument {
                description,
                reason,
                ..
            } => Error::InvalidArgument {
                field: RENEWAL_FIELD,
                description: description.replacen("the proof", "the renewal info", 1),
                reason,
            },
            other => other,
        })
    }

    /// Checks the JWS's chain and signature and returns its (now authentic) payload. The
    /// certificates must have been valid at the payload's `signedDate` (at `now` when it
    /// has none), as Apple's own library checks offline: a proof outlives its leaf.
    fn verify_signature(&self, jws: &str, now: DateTime<Utc>) -> Result<Vec<u8>, Error> {
        let parts: Vec<&str> = jws.trim().split('.').collect();
        let [header_b64, payload_b64, signature_b64] = parts[..] else {
            return Err(malformed(
                "the proof is not a JWS in compact form (three base64url parts separated by dots)",
            ));
        };
        let header = decode_json_object(header_b64, "header")?;
        let payload_bytes = decode_part(payload_b64, "payload")?;
        let signature = decode_part(signature_b64, "signature")?;

        match header.get("alg").and_then(Value::as_str) {
            Some("ES256") => {}
            Some(other) => {
                return Err(Error::invalid_because(
                    FIELD,
                    Reason::AppleProofAlgorithm,
                    format!("the proof is signed with {other:?}; only ES256 is accepted"),
                ));
            }
            None => {
                return Err(Error::invalid_because(
                    FIELD,
                    Reason::AppleProofAlgorithm,
                    "the proof's header names no signature algorithm; only ES256 is accepted",
                ));
            }
        }
        if header.contains_key("crit") {
            return Err(malformed(
                "the proof's header has critical parameters, which are not supported",
            ));
        }

        let chain_der = decode_chain(&header)?;
        if chain_der[2] != self.config.root_certificate_der {
            return Err(Error::invalid_because(
                FIELD,
                Reason::AppleProofUntrustedRoot,
                "the proof's certificate chain does not end at the trusted Apple root",
            ));
        }
        let leaf = parse_certificate(&chain_der[0], "leaf")?;
        let intermediate = parse_certificate(&chain_der[1], "intermediate")?;
        let root = parse_certificate(&chain_der[2], "root")?;

        verify_link(&leaf, "leaf", &intermediate, "intermediate")?;
        verify_link(&intermediate, "intermediate", &root, "root")?;
        if !intermediate.is_ca() {
            return Err(chain_invalid(
                "the proof's intermediate certificate is not a certificate authority",
            ));
        }

        require_marker(&leaf, "leaf", LEAF_MARKER_OID)?;
        require_marker(&intermediate, "intermediate", INTERMEDIATE_MARKER_OID)?;

        let dated: SignedDate = serde_json::from_slice(&payload_bytes)
            .map_err(|e| malformed(format!("the proof's payload is not signed data: {e}")))?;
        let signed_at = match dated.signed_date {
            Some(ms) => millis(ms, "signedDate")?,
            None => now,
        };
        for (certificate, role) in [
            (&leaf, "leaf"),
            (&intermediate, "intermediate"),
            (&root, "root"),
        ] {
            require_valid_at(certificate, role, signed_at)?;
        }

        verify_jws_signature(&leaf, header_b64, payload_b64, &signature)?;
        Ok(payload_bytes)
    }

    /// Refuses a payload from another environment than the configured one.
    fn check_environment(&self, environment: &str) -> Result<(), Error> {
        if environment != self.config.environment {
            return Err(Error::PermissionDenied {
                reason: Reason::AppleProofWrongEnvironment,
                message: format!(
                    "the App Store purchase was made in the {environment} environment; \
                     this server accepts {} purchases only",
                    self.config.environment
                ),
            });
        }
        Ok(())
    }

    /// Checks that the (now authentic) payload is for us and extracts the purchase.
    fn read_purchase(
        &self,
        payload: TransactionPayload,
        now: DateTime<Utc>,
    ) -> Result<VerifiedPurchase, Error> {
        let bundle_id = required(payload.bundle_id, "bundleId")?;
        if bundle_id != self.config.bundle_id {
            return Err(Error::PermissionDenied {
                reason: Reason::AppleProofWrongBundle,
                message: format!(
                    "the App Store purchase belongs to app {bundle_id:?}, not {:?}",
                    self.config.bundle_id
                ),
            });
        }
        let environment = required(payload.environment, "environment")?;
        self.check_environment(&environment)?;
        let original_id = required(payload.original_transaction_id, "originalTransactionId")?;
        Ok(VerifiedPurchase {
            store: StoreKind::AppStore,
            transaction_id: payload
                .transaction_id
                .unwrap_or_else(|| original_id.clone()),
            original_id,
            product_id: required(payload.product_id, "productId")?,
            base_plan_id: None,
            purchased_at: millis(
                required(payload.purchase_date, "purchaseDate")?,
                "purchaseDate",
            )?,
            expires_at: millis(
                required(payload.expires_date, "expiresDate")?,
                "expiresDate",
            )?,
            signed_at: match payload.signed_date {
                Some(ms) => millis(ms, "signedDate")?,
                None => now,
            },
            auto_renew: None,
            environment,
            revoked: payload.revocation_date.is_some(),
            upgraded: payload.is_upgraded,
            account_token: payload.app_account_token.filter(|t| !t.is_empty()),
            standing: Standing::Paid,
        })
    }
}

fn malformed(description: impl Into<String>) -> Error {
    Error::invalid_because(FIELD, Reason::AppleProofMalformed, description)
}

fn chain_invalid(description: impl Into<String>) -> Error {
    Error::invalid_because(FIELD, Reason::AppleProofChainInvalid, description)
}

fn decode_part(part: &str, name: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(format!("the proof's {name} is not base64url")))
}

fn decode_json_object(part: &str, name: &str) -> Result<Map<String, Value>, Error> {
    let bytes = decode_part(part, name)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(malformed(format!(
            "the proof's {name} is not a JSON object"
        ))),
    }
}

/// The `x5c` header: exactly leaf, intermediate and root, each standard-base64 DER.
fn decode_chain(header: &Map<String, Value>) -> Result<[Vec<u8>; 3], Error> {
    let Some(x5c) = header.get("x5c") else {
        return Err(chain_invalid(
            "the proof's header carries no certificate chain (x5c)",
        ));
    };
    let Some(entries) = x5c.as_array() else {
        return Err(malformed("the proof's x5c header is not an array"));
    };
    let certificates = entries
        .iter()
        .map(|entry| {
            entry
                .as_str()
                .and_then(|text| STANDARD.decode(text).ok())
                .ok_or_else(|| malformed("a certificate in the proof's x5c header is not base64"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count = certificates.len();
    <[Vec<u8>; 3]>::try_from(certificates).map_err(|_| {
        chain_invalid(format!(
            "the proof's certificate chain has {count} certificates; Apple's has exactly 3 \
             (leaf, intermediate, root)"
        ))
    })
}

fn parse_certificate<'a>(der: &'a [u8], role: &str) -> Result<X509Certificate<'a>, Error> {
    match X509Certificate::from_der(der) {
        Ok(([], certificate)) => Ok(certificate),
        _ => Err(malformed(format!(
            "the proof's {role} certificate is not a DER X.509 certificate"
        ))),
    }
}

/// `child` names `issuer` as its issuer and carries its signature.
fn verify_link(
    child: &X509Certificate<'_>,
    child_role: &str,
    issuer: &X509Certificate<'_>,
    issuer_role: &str,
) -> Result<(), Error> {
    if child.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(chain_invalid(format!(
            "the proof's {child_role} certificate was not issued by its {issuer_role}"
        )));
    }
    child
        .verify_signature(Some(issuer.public_key()))
        .map_err(|_| {
            chain_invalid(format!(
                "the proof's {child_role} certificate is not signed by its {issuer_role}"
            ))
        })
}

fn require_marker(certificate: &X509Certificate<'_>, role: &str, oid: &str) -> Result<(), Error> {
    if certificate
        .extensions()
        .iter()
        .any(|extension| extension.oid.to_id_string() == oid)
    {
        return Ok(());
    }
    Err(Error::invalid_because(
        FIELD,
        Reason::AppleProofMissingMarker,
        format!("the proof's {role} certificate lacks Apple's marker extension {oid}"),
    ))
}

fn require_valid_at(
    certificate: &X509Certificate<'_>,
    role: &str,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let validity = certificate.validity();
    let at_ms = at.timestamp_millis();
    let not_before_ms = validity.not_before.timestamp().saturating_mul(1000);
    let not_after_ms = validity.not_after.timestamp().saturating_mul(1000);
    if (not_before_ms..=not_after_ms).contains(&at_ms) {
        return Ok(());
    }
    Err(Error::invalid_because(
        FIELD,
        Reason::AppleProofCertificateExpired,
        format!(
            "the proof's {role} certificate was not valid when the transaction was signed \
             ({})",
            at.to_rfc3339()
        ),
    ))
}

/// ES256 over `header.payload` with the leaf's P-256 key; the signature is raw `r || s`.
fn verify_jws_signature(
    leaf: &X509Certificate<'_>,
    header_b64: &str,
    payload_b64: &str,
    signature: &[u8],
) -> Result<(), Error> {
    let key = leaf.public_key();
    let is_p256 = key.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY
        && key
            .algorithm
            .parameters
            .as_ref()
            .and_then(|parameters| parameters.as_oid().ok())
            .is_some_and(|curve| curve == OID_EC_P256);
    if !is_p256 {
        return Err(Error::invalid_because(
            FIELD,
            Reason::AppleProofAlgorithm,
            "the proof's leaf certificate does not hold a P-256 key, as ES256 requires",
        ));
    }
    let signed = format!("{header_b64}.{payload_b64}");
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key.subject_public_key.data)
        .verify(signed.as_bytes(), signature)
        .map_err(|_| {
            Error::invalid_because(
                FIELD,
                Reason::AppleProofSignatureInvalid,
                "the proof's signature does not match its contents and leaf certificate",
            )
        })
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, Error> {
    value.ok_or_else(|| malformed(format!("the proof's transaction has no {name}")))
}

fn millis(ms: i64, name: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| malformed(format!("the proof's {name} is out of range")))
}
