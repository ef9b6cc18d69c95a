//! A test PKI made at test time and shaped like Apple's: a root, a WWDR-like
//! intermediate and an App Store signing leaf, the signed transactions (JWS) it issues,
//! and every way we know to forge or break one. Shared by `tests/apple_proofs.rs` (the
//! verifier alone) and `tests/api/restores/` (the same proofs through the server), as
//! `#[path = "…/support/apple_pki.rs"] mod apple_pki;`.

// Each test binary uses a different part of this file.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Datelike};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256, date_time_ymd,
};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm,
};
use serde_json::{Value, json};
use tessera::app_stores::apple::{
    AppleConfig, AppleVerifier, INTERMEDIATE_MARKER_OID, LEAF_MARKER_OID,
};

/// The app the test proofs are for.
pub const BUNDLE_ID: &str = "dev.tessera.suite";
/// The App Store environment the test proofs are from.
pub const ENVIRONMENT: &str = "Production";

fn oid_arcs(dotted: &str) -> Vec<u64> {
    dotted.split('.').map(|arc| arc.parse().unwrap()).collect()
}

/// Apple's marker extensions hold an ASN.1 NULL.
fn marker(dotted: &str) -> CustomExtension {
    CustomExtension::from_oid_content(&oid_arcs(dotted), vec![0x05, 0x00])
}

pub fn p256() -> KeyPair {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap()
}

pub fn params(common_name: &str, ca: bool, marker_oid: Option<&str>) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2040, 1, 1);
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    params.custom_extensions = marker_oid.into_iter().map(marker).collect();
    params
}

pub fn root_params(common_name: &str) -> CertificateParams {
    params(common_name, true, None)
}

pub fn intermediate_params() -> CertificateParams {
    params("Test WWDR - G6", true, Some(INTERMEDIATE_MARKER_OID))
}

pub fn leaf_params() -> CertificateParams {
    params(
        "Test Prod ECC App Store Signing",
        false,
        Some(LEAF_MARKER_OID),
    )
}

fn signing_key(key: &KeyPair, algorithm: &'static EcdsaSigningAlgorithm) -> EcdsaKeyPair {
    EcdsaKeyPair::from_pkcs8(algorithm, &key.serialize_der(), &SystemRandom::new()).unwrap()
}

/// A genuine-looking PKI: root → intermediate → leaf, with the leaf's JWS key.
pub struct Pki {
    pub root_der: Vec<u8>,
    pub root: Issuer<'static, KeyPair>,
    pub intermediate_der: Vec<u8>,
    pub intermediate: Issuer<'static, KeyPair>,
    pub leaf_der: Vec<u8>,
    pub leaf_key: EcdsaKeyPair,
    pub leaf_pkcs8: Vec<u8>,
}

impl Pki {
    pub fn new() -> Self {
        let root_key = p256();
        let root_der = root_params("Test Root CA - G3")
            .self_signed(&root_key)
            .unwrap()
            .der()
            .to_vec();
        let root = Issuer::new(root_params("Test Root CA - G3"), root_key);
        let (intermediate_der, intermediate) = issue_ca(intermediate_params(), &root);
        let (leaf_der, leaf) = issue_leaf_key(leaf_params(), &intermediate);
        Self {
            root_der,
            root,
            intermediate_der,
            intermediate,
            leaf_der,
            leaf_key: signing_key(&leaf, &ECDSA_P256_SHA256_FIXED_SIGNING),
            leaf_pkcs8: leaf.serialize_der(),
        }
    }

    pub fn chain(&self) -> Vec<Vec<u8>> {
        vec![
            self.leaf_der.clone(),
            self.intermediate_der.clone(),
            self.root_der.clone(),
        ]
    }

    /// A verifier that trusts this PKI's root, for [`BUNDLE_ID`] in [`ENVIRONMENT`].
    pub fn verifier(&self) -> AppleVerifier {
        AppleVerifier::new(AppleConfig {
            root_certificate_der: self.root_der.clone(),
            bundle_id: BUNDLE_ID.into(),
            environment: ENVIRONMENT.into(),
        })
    }

    /// A proof signed by the leaf over the genuine chain.
    pub fn proof(&self, payload: &Value) -> String {
        signed(&es256_header(&self.chain()), payload, &self.leaf_key)
    }
}

pub fn issue_ca(
    params: CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
) -> (Vec<u8>, Issuer<'static, KeyPair>) {
    let key = p256();
    let der = params.signed_by(&key, issuer).unwrap().der().to_vec();
    (der, Issuer::new(params, key))
}

pub fn issue_leaf(
    params: CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
) -> (Vec<u8>, EcdsaKeyPair) {
    let (der, key) = issue_leaf_key(params, issuer);
    (der, signing_key(&key, &ECDSA_P256_SHA256_FIXED_SIGNING))
}

fn issue_leaf_key(params: CertificateParams, issuer: &Issuer<'_, KeyPair>) -> (Vec<u8>, KeyPair) {
    let key = p256();
    let der = params.signed_by(&key, issuer).unwrap().der().to_vec();
    (der, key)
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn es256_header(chain: &[Vec<u8>]) -> Value {
    let x5c: Vec<String> = chain.iter().map(|der| STANDARD.encode(der)).collect();
    json!({ "alg": "ES256", "x5c": x5c })
}

pub fn signing_input(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes())
    )
}

pub fn signed(header: &Value, payload: &Value, key: &EcdsaKeyPair) -> String {
    let input = signing_input(header, payload);
    let signature = key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(signature.as_ref()))
}

/// When a transaction happened, in milliseconds since the epoch as Apple writes them.
#[derive(Debug, Clone, Copy)]
pub struct Dates {
    pub purchase_ms: i64,
    pub expires_ms: i64,
    pub signed_ms: i64,
}

/// A subscription transaction for [`BUNDLE_ID`] in [`ENVIRONMENT`], as Apple's
/// `JWSTransactionDecodedPayload` has it.
pub fn transaction(original_transaction_id: &str, product_id: &str, dates: Dates) -> Value {
    json!({
        "transactionId": "2000000999",
        "originalTransactionId": original_transaction_id,
        "webOrderLineItemId": "2000000777",
        "bundleId": BUNDLE_ID,
        "productId": product_id,
        "subscriptionGroupIdentifier": "21000000",
        "purchaseDate": dates.purchase_ms,
        "originalPurchaseDate": dates.purchase_ms,
        "expiresDate": dates.expires_ms,
        "quantity": 1,
        "type": "Auto-Renewable Subscription",
        "inAppOwnershipType": "PURCHASED",
        "signedDate": dates.signed_ms,
        "environment": ENVIRONMENT,
        "transactionReason": "PURCHASE",
        "storefront": "USA",
        "price": 49990,
        "currency": "USD"
    })
}

pub fn with(mut payload: Value, field: &str, value: Value) -> Value {
    payload[field] = value;
    payload
}

pub fn without(mut payload: Value, field: &str) -> Value {
    payload.as_object_mut().unwrap().remove(field);
    payload
}

/// How a rejection must look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// INVALID_ARGUMENT on `signed_proof`, with this reason.
    InvalidArgument(&'static str),
    /// PERMISSION_DENIED, with this reason.
    PermissionDenied(&'static str),
}

/// One forged or broken proof and how it must be rejected.
pub struct Case {
    pub name: &'static str,
    pub proof: String,
    pub expected: Rejected,
}

fn case(name: &'static str, proof: String, expected: Rejected) -> Case {
    Case {
        name,
        proof,
        expected,
    }
}

/// Every forged or broken variant of a genuine proof of `payload`, which must carry a
/// `signedDate` (the certificates' validity is judged at that instant).
pub fn negative_set(pki: &Pki, payload: &Value) -> Vec<Case> {
    use Rejected::{InvalidArgument as Invalid, PermissionDenied as Denied};
    let genuine = pki.proof(payload);
    let signed_year = payload["signedDate"]
        .as_i64()
        .and_then(DateTime::from_timestamp_millis)
        .expect("the payload has a signedDate")
        .year();
    let mut cases = Vec::new();

    cases.push(case(
        "a chain of two certificates",
        signed(&es256_header(&pki.chain()[..2]), payload, &pki.leaf_key),
        Invalid("APPLE_PROOF_CHAIN_INVALID"),
    ));

    let mut four = pki.chain();
    four.push(pki.root_der.clone());
    cases.push(case(
        "a chain of four certificates",
        signed(&es256_header(&four), payload, &pki.leaf_key),
        Invalid("APPLE_PROOF_CHAIN_INVALID"),
    ));

    let mut unmarked_leaf = leaf_params();
    unmarked_leaf.custom_extensions.clear();
    let (leaf_der, leaf_key) = issue_leaf(unmarked_leaf, &pki.intermediate);
    cases.push(case(
        "a leaf without Apple's marker",
        signed(
            &es256_header(&[leaf_der, pki.intermediate_der.clone(), pki.root_der.clone()]),
            payload,
            &leaf_key,
        ),
        Invalid("APPLE_PROOF_MISSING_MARKER"),
    ));

    let mut unmarked_intermediate = intermediate_params();
    unmarked_intermediate.custom_extensions.clear();
    let (intermediate_der, intermediate) = issue_ca(unmarked_intermediate, &pki.root);
    let (leaf_der, leaf_key) = issue_leaf(leaf_params(), &intermediate);
    cases.push(case(
        "an intermediate without Apple's marker",
        signed(
            &es256_header(&[leaf_der, intermediate_der, pki.root_der.clone()]),
            payload,
            &leaf_key,
        ),
        Invalid("APPLE_PROOF_MISSING_MARKER"),
    ));

    let foreign_key = p256();
    let foreign_root_der = root_params("Test Root CA - G3")
        .self_signed(&foreign_key)
        .unwrap()
        .der()
        .to_vec();
    let foreign_root = Issuer::new(root_params("Test Root CA - G3"), foreign_key);
    let (intermediate_der, intermediate) = issue_ca(intermediate_params(), &foreign_root);
    let (leaf_der, leaf_key) = issue_leaf(leaf_params(), &intermediate);
    cases.push(case(
        "a complete chain ending at a foreign root",
        signed(
            &es256_header(&[leaf_der, intermediate_der, foreign_root_der]),
            payload,
            &leaf_key,
        ),
        Invalid("APPLE_PROOF_UNTRUSTED_ROOT"),
    ));

    let none_header = json!({ "alg": "none", "x5c": es256_header(&pki.chain())["x5c"] });
    cases.push(case(
        "alg none with an empty signature",
        format!("{}.", signing_input(&none_header, payload)),
        Invalid("APPLE_PROOF_ALGORITHM"),
    ));

    let hs256_header = json!({ "alg": "HS256", "x5c": es256_header(&pki.chain())["x5c"] });
    let input = signing_input(&hs256_header, payload);
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &pki.root_der),
        input.as_bytes(),
    );
    cases.push(case(
        "alg HS256 keyed with the root certificate",
        format!("{input}.{}", b64url(mac.as_ref())),
        Invalid("APPLE_PROOF_ALGORITHM"),
    ));

    let rs256_header = json!({ "alg": "RS256", "x5c": es256_header(&pki.chain())["x5c"] });
    cases.push(case(
        "alg RS256",
        signed(&rs256_header, payload, &pki.leaf_key),
        Invalid("APPLE_PROOF_ALGORITHM"),
    ));

    let [header_b64, _, signature_b64] = genuine.split('.').collect::<Vec<_>>()[..] else {
        unreachable!()
    };
    let richer = with(
        payload.clone(),
        "productId",
        json!("suite.unlimited.lifetime"),
    );
    let later = payload["expiresDate"].as_i64().unwrap_or_default() * 2;
    let richer = with(richer, "expiresDate", json!(later));
    cases.push(case(
        "a payload changed after signing",
        format!(
            "{header_b64}.{}.{signature_b64}",
            b64url(richer.to_string().as_bytes())
        ),
        Invalid("APPLE_PROOF_SIGNATURE_INVALID"),
    ));

    let mut expired_leaf = leaf_params();
    expired_leaf.not_after = date_time_ymd(signed_year - 1, 1, 1);
    let (leaf_der, leaf_key) = issue_leaf(expired_leaf, &pki.intermediate);
    cases.push(case(
        "a leaf expired when the transaction was signed",
        signed(
            &es256_header(&[leaf_der, pki.intermediate_der.clone(), pki.root_der.clone()]),
            payload,
            &leaf_key,
        ),
        Invalid("APPLE_PROOF_CERTIFICATE_EXPIRED"),
    ));

    let mut future_leaf = leaf_params();
    future_leaf.not_before = date_time_ymd(signed_year + 1, 1, 1);
    let (leaf_der, leaf_key) = issue_leaf(future_leaf, &pki.intermediate);
    cases.push(case(
        "a leaf not yet valid when the transaction was signed",
        signed(
            &es256_header(&[leaf_der, pki.intermediate_der.clone(), pki.root_der.clone()]),
            payload,
            &leaf_key,
        ),
        Invalid("APPLE_PROOF_CERTIFICATE_EXPIRED"),
    ));

    cases.push(case(
        "another app's bundle id",
        pki.proof(&with(payload.clone(), "bundleId", json!("com.other.app"))),
        Denied("APPLE_PROOF_WRONG_BUNDLE"),
    ));

    cases.push(case(
        "a sandbox purchase sent to production",
        pki.proof(&with(payload.clone(), "environment", json!("Sandbox"))),
        Denied("APPLE_PROOF_WRONG_ENVIRONMENT"),
    ));

    let stranger = signing_key(&p256(), &ECDSA_P256_SHA256_FIXED_SIGNING);
    cases.push(case(
        "a signature by a key other than the leaf's",
        signed(&es256_header(&pki.chain()), payload, &stranger),
        Invalid("APPLE_PROOF_SIGNATURE_INVALID"),
    ));

    let leaf_key_der = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &pki.leaf_pkcs8,
        &SystemRandom::new(),
    )
    .unwrap();
    let input = signing_input(&es256_header(&pki.chain()), payload);
    let der_signature = leaf_key_der
        .sign(&SystemRandom::new(), input.as_bytes())
        .unwrap();
    cases.push(case(
        "a DER-encoded signature instead of raw r||s",
        format!("{input}.{}", b64url(der_signature.as_ref())),
        Invalid("APPLE_PROOF_SIGNATURE_INVALID"),
    ));

    let impostor = Issuer::new(root_params("Test Root CA - G3"), p256());
    let (intermediate_der, intermediate) = issue_ca(intermediate_params(), &impostor);
    let (leaf_der, leaf_key) = issue_leaf(leaf_params(), &intermediate);
    cases.push(case(
        "an intermediate signed by another key in the root's name",
        signed(
            &es256_header(&[leaf_der, intermediate_der, pki.root_der.clone()]),
            payload,
            &leaf_key,
        ),
        Invalid("APPLE_PROOF_CHAIN_INVALID"),
    ));

    let (leaf_der, leaf_key) = issue_leaf(leaf_params(), &pki.root);
    cases.push(case(
        "a leaf signed by the root but presented under the intermediate",
        signed(
            &es256_header(&[leaf_der, pki.intermediate_der.clone(), pki.root_der.clone()]),
            payload,
            &leaf_key,
        ),
        Invalid("APPLE_PROOF_CHAIN_INVALID"),
    ));

    let mut leaf_as_intermediate = params("Test WWDR - G6", false, Some(INTERMEDIATE_MARKER_OID));
    leaf_as_intermediate.is_ca = IsCa::ExplicitNoCa;
    let (intermediate_der, intermediate) = issue_ca(leaf_as_intermediate, &pki.root);
    let (leaf_der, leaf_key) = issue_leaf(leaf_params(), &intermediate);
    cases.push(case(
        "an intermediate that is not a certificate authority",
        signed(
            &es256_header(&[leaf_der, intermediate_der, pki.root_der.clone()]),
            payload,
            &leaf_key,
        ),
        Invalid("APPLE_PROOF_CHAIN_INVALID"),
    ));

    for garbage in ["", "not-a-jws", "only.two", "a.b.c.d", "%%%.%%%.%%%"] {
        cases.push(case(
            "garbage instead of three base64url parts",
            garbage.to_string(),
            Invalid("APPLE_PROOF_MALFORMED"),
        ));
    }

    let mut bad_x5c = es256_header(&pki.chain());
    bad_x5c["x5c"][1] = json!("this is *not* base64!");
    cases.push(case(
        "an x5c entry that is not base64",
        signed(&bad_x5c, payload, &pki.leaf_key),
        Invalid("APPLE_PROOF_MALFORMED"),
    ));

    let mut not_der = es256_header(&pki.chain());
    not_der["x5c"][0] = json!(STANDARD.encode(b"definitely not a certificate"));
    cases.push(case(
        "an x5c entry that is not a certificate",
        signed(&not_der, payload, &pki.leaf_key),
        Invalid("APPLE_PROOF_MALFORMED"),
    ));

    let mut critical = es256_header(&pki.chain());
    critical["crit"] = json!(["b64"]);
    critical["b64"] = json!(false);
    cases.push(case(
        "a header with critical extensions",
        signed(&critical, payload, &pki.leaf_key),
        Invalid("APPLE_PROOF_MALFORMED"),
    ));

    cases.push(case(
        "a header without x5c",
        signed(&json!({ "alg": "ES256" }), payload, &pki.leaf_key),
        Invalid("APPLE_PROOF_CHAIN_INVALID"),
    ));

    cases.push(case(
        "a genuine signature over a transaction without productId",
        pki.proof(&without(payload.clone(), "productId")),
        Invalid("APPLE_PROOF_MALFORMED"),
    ));

    cases.push(case(
        "a genuine signature over a transaction without expiresDate",
        pki.proof(&without(payload.clone(), "expiresDate")),
        Invalid("APPLE_PROOF_MALFORMED"),
    ));

    cases
}
