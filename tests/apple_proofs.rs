//! The App Store proof verifier against a test PKI made at test time: a root, an
//! intermediate and a leaf shaped like Apple's, and every way we know to forge or break
//! a signed transaction. The PKI and the forgeries live in `support/apple_pki.rs`,
//! shared with the server-level restore scenarios.

#[path = "support/apple_pki.rs"]
mod apple_pki;

use apple_pki::{BUNDLE_ID, Dates, ENVIRONMENT, Pki, Rejected, negative_set, with, without};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tessera::Error;
use tessera::app_stores::apple::{APPLE_ROOT_CA_G3_DER, AppleConfig, AppleVerifier};
use tessera::domain::purchase::StoreKind;

/// 2025-06-01T00:00:00Z, when the test transactions were signed.
const SIGNED_MS: i64 = 1_748_736_000_000;
const PURCHASE_MS: i64 = 1_748_735_000_000;
const EXPIRES_MS: i64 = 1_780_271_000_000;

/// The subscription transaction every case starts from.
fn transaction() -> Value {
    apple_pki::transaction(
        "2000000123",
        "suite.family.annual",
        Dates {
            purchase_ms: PURCHASE_MS,
            expires_ms: EXPIRES_MS,
            signed_ms: SIGNED_MS,
        },
    )
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 2, 12, 0, 0).unwrap()
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn rejection(error: &Error) -> Option<Rejected> {
    match error {
        Error::InvalidArgument { field, reason, .. } if *field == "signed_proof" => {
            Some(Rejected::InvalidArgument(reason.as_str()))
        }
        Error::PermissionDenied { reason, .. } => Some(Rejected::PermissionDenied(reason.as_str())),
        _ => None,
    }
}

#[test]
fn a_genuine_proof_verifies_and_yields_the_purchase() {
    let pki = Pki::new();
    let purchase = pki
        .verifier()
        .verify(&pki.proof(&transaction()), now())
        .unwrap();

    assert_eq!(purchase.store, StoreKind::AppStore);
    assert_eq!(purchase.original_id, "2000000123");
    assert_eq!(purchase.product_id, "suite.family.annual");
    assert_eq!(ms(purchase.purchased_at), PURCHASE_MS);
    assert_eq!(ms(purchase.expires_at), EXPIRES_MS);
    assert_eq!(purchase.auto_renew, None);
    assert_eq!(purchase.environment, ENVIRONMENT);
    assert!(!purchase.revoked);
}

#[test]
fn a_proof_with_a_revocation_date_is_genuine_but_revoked() {
    let pki = Pki::new();
    let payload = with(transaction(), "revocationDate", json!(SIGNED_MS - 1000));
    let purchase = pki.verifier().verify(&pki.proof(&payload), now()).unwrap();
    assert!(purchase.revoked);
}

#[test]
fn a_proof_without_signed_date_is_checked_against_now() {
    let pki = Pki::new();
    let proof = pki.proof(&without(transaction(), "signedDate"));
    let verifier = pki.verifier();

    assert!(verifier.verify(&proof, now()).is_ok());
    let long_after = Utc.with_ymd_and_hms(2041, 1, 1, 0, 0, 0).unwrap();
    let error = verifier.verify(&proof, long_after).unwrap_err();
    assert_eq!(
        rejection(&error),
        Some(Rejected::InvalidArgument("APPLE_PROOF_CERTIFICATE_EXPIRED"))
    );
}

#[test]
fn the_validity_instant_is_the_signed_date_not_now() {
    let pki = Pki::new();
    let long_after = Utc.with_ymd_and_hms(2041, 1, 1, 0, 0, 0).unwrap();
    assert!(
        pki.verifier()
            .verify(&pki.proof(&transaction()), long_after)
            .is_ok()
    );
}

#[test]
fn the_embedded_root_is_apple_root_ca_g3() {
    let fingerprint: String = Sha256::digest(APPLE_ROOT_CA_G3_DER)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect();
    assert_eq!(
        fingerprint,
        "63343ABFB89A6A03EBB57E9B3F5FA7BE7C4F5C756F3017B3A8C488C3653E9179"
    );
    let config = AppleConfig::with_apple_root(BUNDLE_ID, ENVIRONMENT);
    assert_eq!(config.root_certificate_der, APPLE_ROOT_CA_G3_DER);
}

#[test]
fn a_verifier_trusting_apple_rejects_a_test_chain() {
    let pki = Pki::new();
    let verifier = AppleVerifier::new(AppleConfig::with_apple_root(BUNDLE_ID, ENVIRONMENT));
    let error = verifier
        .verify(&pki.proof(&transaction()), now())
        .unwrap_err();
    assert_eq!(
        rejection(&error),
        Some(Rejected::InvalidArgument("APPLE_PROOF_UNTRUSTED_ROOT"))
    );
}

#[test]
fn every_forged_or_broken_proof_is_rejected_with_its_reason() {
    let pki = Pki::new();
    let verifier = pki.verifier();
    let cases = negative_set(&pki, &transaction());

    let mut failures = Vec::new();
    for case in &cases {
        match verifier.verify(&case.proof, now()) {
            Ok(purchase) => failures.push(format!("{}: accepted as {purchase:?}", case.name)),
            Err(error) => {
                let got = rejection(&error);
                if got != Some(case.expected) {
                    failures.push(format!(
                        "{}: expected {:?}, got {got:?} ({error})",
                        case.name, case.expected
                    ));
                }
            }
        }
    }

    println!(
        "apple negative set: {}/{} rejected",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The genuine Apple-signed Sandbox data copied into `tests/fixtures/app-store/`.
fn genuine(kind: &str) -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/app-store");
    let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "jws"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (
                name,
                std::fs::read_to_string(&path).unwrap().trim().to_owned(),
            )
        })
        .filter(|(name, _)| name.contains(kind))
        .collect();
    found.sort();
    found
}

/// The bundle id of a fixture, from its name.
fn bundle_of(name: &str) -> &'static str {
    if name.starts_with("sessionpro-") {
        "com.loki-project.loki-messenger"
    } else {
        "com.leinotek.LovePush"
    }
}

#[test]
fn every_genuine_transaction_verifies_against_apples_root_at_its_signed_date() {
    let transactions = genuine("-transaction-");
    assert_eq!(transactions.len(), 16);
    let long_after = Utc.with_ymd_and_hms(2038, 1, 1, 0, 0, 0).unwrap();
    for (name, jws) in &transactions {
        let verifier = AppleVerifier::new(AppleConfig::with_apple_root(bundle_of(name), "Sandbox"));
        let purchase = verifier
            .verify(jws, long_after)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(name.contains(&purchase.transaction_id), "{name}");
        assert_eq!(purchase.environment, "Sandbox");
    }
}

#[test]
fn genuine_renewal_infos_verify_and_say_whether_they_renew() {
    let infos = genuine("-renewal-info-");
    assert_eq!(infos.len(), 2);
    for (name, jws) in &infos {
        let verifier = AppleVerifier::new(AppleConfig::with_apple_root(bundle_of(name), "Sandbox"));
        let renewal = verifier
            .verify_renewal_info(jws, Utc::now())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(name.contains(&renewal.original_id), "{name}");
        // The Session Pro one was signed after auto-renewal was turned off.
        assert_eq!(
            renewal.auto_renew,
            name.starts_with("onlyfriends-"),
            "{name}"
        );
    }
}
