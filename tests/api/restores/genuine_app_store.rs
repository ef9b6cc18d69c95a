//! Genuine Apple-signed Sandbox transactions (`tests/fixtures/app-store/`, copied from
//! the shared fixtures; see their README for where each comes from) restore through the
//! real server, trusting Apple Root CA - G3, with a catalog that maps their products and
//! their bundle id and Sandbox configured. Each is restored at the moment Apple signed it
//! (the server's clock is set there), in the order they were signed: the store's truth
//! as it unfolded, refund included.

use super::{millis, restore_apple, restore_with_renewal_info};
use crate::support::{Db, TestApp, email, on_both_backends, spawn_app_with, status};
use chrono::DateTime;
use tessera_client::pb;

on_both_backends!(
    the_genuine_sandbox_transactions_restore_in_the_order_apple_signed_them,
    a_genuine_transaction_whose_certificate_has_since_expired_restores_at_its_signed_date,
);

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/app-store");

/// A catalog that maps the Session Pro products of the fixtures.
const SESSION_CATALOG: &str = r#"
[[plans]]
code = "pro-monthly"
name = "Pro, monthly"
seats = 2
term_months = 1

[[plans]]
code = "pro-quarterly"
name = "Pro, every three months"
seats = 3
term_months = 3

[[app_store_products]]
product_id = "com.getsession.org.pro_sub"
plan = "pro-monthly"

[[app_store_products]]
product_id = "com.getsession.org.pro_sub_3_months"
plan = "pro-quarterly"
"#;

const LOVEPUSH_CATALOG: &str = r#"
[[plans]]
code = "lovepush-monthly"
name = "LovePush, monthly"
seats = 1
term_months = 1

[[app_store_products]]
product_id = "lovepush_monthly_150"
plan = "lovepush-monthly"
"#;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}.jws"))
        .unwrap_or_else(|e| panic!("reading fixture {name}: {e}"))
        .trim()
        .to_owned()
}

/// A server for `bundle_id` in Sandbox, trusting Apple's own root, with `catalog`.
async fn spawn_sandbox_app(db: Db, bundle_id: &str, catalog: &str) -> Option<TestApp> {
    let path = std::env::temp_dir().join(format!(
        "tessera-test-catalog-{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, catalog).expect("writing the test catalog");
    let bundle_id = bundle_id.to_owned();
    let app = spawn_app_with(db, |settings| {
        settings.apple_bundle_id = Some(bundle_id);
        settings.apple_environment = "Sandbox".to_owned();
        settings.catalog = Some(path.clone());
    })
    .await;
    let _ = std::fs::remove_file(&path);
    app
}

/// The fixture's `signedDate`: its name ends with it, in milliseconds.
fn signed_at(name: &str) -> DateTime<chrono::Utc> {
    let ms: i64 = name.rsplit('-').next().unwrap().parse().unwrap();
    DateTime::from_timestamp_millis(ms).unwrap()
}

async fn the_genuine_sandbox_transactions_restore_in_the_order_apple_signed_them(db: Db) {
    let Some(app) = spawn_sandbox_app(db, "com.loki-project.loki-messenger", SESSION_CATALOG).await
    else {
        return;
    };
    app.clock.set(signed_at(
        "sessionpro-transaction-2000001024998954-1759302518835",
    ));
    let (account, token) = app.sign_up(&email()).await;
    // (fixture, the plan after it)
    let steps = [
        (
            "sessionpro-transaction-2000001024998954-1759302518835",
            "pro-monthly",
        ),
        // Signed after its own expiry: newer, but it grants nothing and changes nothing.
        (
            "sessionpro-transaction-2000001025012675-1759304012269",
            "pro-monthly",
        ),
        (
            "sessionpro-transaction-2000001025686313-1759388776941",
            "pro-monthly",
        ),
        (
            "sessionpro-transaction-2000001025686313-1759388855473",
            "pro-monthly",
        ),
        (
            "sessionpro-transaction-2000001025686313-1759389041604",
            "pro-monthly",
        ),
        (
            "sessionpro-transaction-2000001027701898-1759727785445",
            "pro-quarterly",
        ),
        (
            "sessionpro-transaction-2000001027701928-1759727799810",
            "pro-monthly",
        ),
        (
            "sessionpro-transaction-2000001027701928-1759727821952",
            "pro-monthly",
        ),
        (
            "sessionpro-transaction-2000001027701928-1759727838450",
            "pro-monthly",
        ),
        (
            "sessionpro-transaction-2000001027701928-1759727866231",
            "pro-monthly",
        ),
        (
            "sessionpro-transaction-2000001027701928-1759727876877",
            "pro-monthly",
        ),
        (
            "sessionpro-transaction-2000001027701928-1759727985799",
            "pro-monthly",
        ),
        (
            "sessionpro-transaction-2000001035288486-1760591792087",
            "pro-quarterly",
        ),
    ];
    let mut name = None;
    for (fixture_name, plan) in steps {
        app.clock.set(signed_at(fixture_name));
        let restored = restore_apple(&app, &token, &fixture(fixture_name))
            .await
            .unwrap_or_else(|e| panic!("{fixture_name}: {e:?}"));
        assert_eq!(restored.account, account, "{fixture_name}");
        assert_eq!(restored.plan, format!("plans/{plan}"), "{fixture_name}");
        assert_eq!(
            name.get_or_insert(restored.name.clone()),
            &restored.name,
            "one purchase, one subscription"
        );
    }
    let current = app
        .get_subscription(&token, name.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(status(&current), pb::SubscriptionStatus::Active);
    assert_eq!(millis(&current.end_time), 1_760_592_314_000);

    // An older transaction (bought before the current one), then Apple's refund of it:
    // the newer transaction still entitles, so nothing changes.
    for fixture_name in [
        "sessionpro-transaction-2000001032604840-1760591941117",
        "sessionpro-transaction-2000001032604840-1760592122788",
    ] {
        app.clock.set(signed_at(fixture_name));
        let after = restore_apple(&app, &token, &fixture(fixture_name))
            .await
            .unwrap_or_else(|e| panic!("{fixture_name}: {e:?}"));
        assert_eq!(after.update_time, current.update_time, "{fixture_name}");
        assert_eq!(status(&after), pb::SubscriptionStatus::Active);
    }
    assert_eq!(app.list_subscriptions(&token).await.len(), 1);
    app.stop().await;
}

/// The transaction's signing certificate expired on 2025-10-11; Apple signed it on
/// 2024-12-26, when it was valid, and Apple's library checks it at that date offline.
async fn a_genuine_transaction_whose_certificate_has_since_expired_restores_at_its_signed_date(
    db: Db,
) {
    let Some(app) = spawn_sandbox_app(db, "com.leinotek.LovePush", LOVEPUSH_CATALOG).await else {
        return;
    };
    let transaction = "onlyfriends-transaction-2000000816072421-1735188409824";
    let renewal = "onlyfriends-renewal-info-2000000816072421-1735188409824";
    app.clock.set(signed_at(transaction));
    let (_, token) = app.sign_up(&email()).await;
    let restored = restore_with_renewal_info(
        &app,
        &token,
        pb::Channel::AppStore,
        &fixture(transaction),
        &fixture(renewal),
    )
    .await
    .unwrap();
    assert_eq!(restored.plan, "plans/lovepush-monthly");
    assert_eq!(status(&restored), pb::SubscriptionStatus::Active);
    assert!(
        restored.auto_renew,
        "the renewal info's autoRenewStatus is 1"
    );
    assert_eq!(millis(&restored.end_time), 1_735_191_994_000);
    app.stop().await;
}
