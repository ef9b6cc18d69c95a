//! `tessera support …`: customer support's look-ups, in text and JSON, and commands run
//! where there is no database.

use super::{Scratch, assert_says, tessera_command, tessera_fails, tessera_ok};
use crate::support::{Db, email, on_both_backends, spawn_app};
use serde_json::Value;
use tessera_client::{pb, with_token};

on_both_backends!(
    support_finds_an_account_with_its_subscriptions_and_devices,
    support_shows_a_subscription_with_its_history,
    support_lists_partners_with_their_keys,
);

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

async fn support_finds_an_account_with_its_subscriptions_and_devices(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let address = email();
    let (account, token) = app.sign_up(&address).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    app.activate(&token, &subscription.name, "laptop")
        .await
        .unwrap();
    let removed = app
        .activate(&token, &subscription.name, "old-phone")
        .await
        .unwrap()
        .seat
        .unwrap();
    app.seats()
        .deactivate_seat(with_token(
            &token,
            pb::DeactivateSeatRequest {
                name: removed.name.clone(),
            },
        ))
        .await
        .unwrap();
    let url = &app.database_url;

    let found = tessera_ok(&["support", "find-account", &address, "--database-url", url]);
    assert_says(&found, &[&account, &address]);
    let found = json(&tessera_ok(&[
        "support",
        "find-account",
        &address.to_uppercase(),
        "--json",
        "--database-url",
        url,
    ]));
    assert_eq!(found["name"], account.as_str());

    let overview = json(&tessera_ok(&[
        "support",
        "account",
        &address,
        "--json",
        "--database-url",
        url,
    ]));
    assert_eq!(overview["email"], address.as_str());
    let subscriptions = overview["subscriptions"].as_array().unwrap();
    assert_eq!(subscriptions.len(), 1);
    let shown = &subscriptions[0];
    assert_eq!(shown["name"], subscription.name.as_str());
    assert_eq!(shown["status"], "ACTIVE");
    assert_eq!(shown["active_seat_count"], 1);
    let seats = shown["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 2, "removed devices are listed too");
    let old_phone = seats
        .iter()
        .find(|s| s["device_id"] == "old-phone")
        .unwrap();
    assert_eq!(old_phone["name"], removed.name.as_str());
    assert!(old_phone["deactivate_time"].is_string());

    let text = tessera_ok(&["support", "account", &account, "--database-url", url]);
    assert_says(
        &text,
        &[
            &subscription.name,
            "1 of 3 seats",
            "\"PC laptop\"",
            "removed",
        ],
    );

    let stderr = tessera_fails(&[
        "support",
        "find-account",
        "nobody@example.com",
        "--database-url",
        url,
    ]);
    assert_says(&stderr, &["account not found"]);
    app.stop().await;
}

async fn support_shows_a_subscription_with_its_history(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let partner = app.partner("Telekom").await;
    let provisioned = app.provision(&partner, "contract-4711", "deluxe-3").await;
    let subscription = provisioned.subscription.unwrap();
    let (account, token) = app.sign_up(&email()).await;
    app.redeem_code(&token, &provisioned.partner_code)
        .await
        .unwrap();
    app.activate(&token, &subscription.name, "laptop")
        .await
        .unwrap();
    // Every event committed so far is numbered, as watchers (and support) read them.
    app.last_event_seq().await;
    let url = &app.database_url;

    let history = json(&tessera_ok(&[
        "support",
        "subscription",
        &subscription.name,
        "--json",
        "--database-url",
        url,
    ]));
    assert_eq!(history["account"], account.as_str());
    assert_eq!(history["partner"], partner.name.as_str());
    assert_eq!(history["partner_reference"], "contract-4711");
    let events = history["events"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "SUBSCRIPTION_CREATED",
            "PARTNER_CODE_REDEEMED",
            "SEAT_ACTIVATED"
        ]
    );
    assert_eq!(events[0]["actor"], "PARTNER");
    assert!(events[0]["request_id"].is_string());
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let text = tessera_ok(&[
        "support",
        "subscription",
        &subscription.name,
        "--database-url",
        url,
    ]);
    assert_says(
        &text,
        &["SEAT_ACTIVATED", "by PARTNER", "contract \"contract-4711\""],
    );

    let stderr = tessera_fails(&["support", "subscription", "nonsense", "--database-url", url]);
    assert_says(&stderr, &["subscriptions/{subscription_id}"]);
    app.stop().await;
}

async fn support_lists_partners_with_their_keys(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let url = &app.database_url;
    assert_says(
        &tessera_ok(&["support", "partners", "--database-url", url]),
        &["no partners"],
    );
    let partner = app.partner("Telekom").await;
    app.partners()
        .revoke_partner_key(crate::support::admin(pb::RevokePartnerKeyRequest {
            name: partner.key_name.clone(),
        }))
        .await
        .unwrap();
    let created = tessera_ok(&["partner", "key", "create", "Telekom", "--database-url", url]);
    let live_key = created.lines().next().unwrap();

    let partners = json(&tessera_ok(&[
        "support",
        "partners",
        "--json",
        "--database-url",
        url,
    ]));
    let partners = partners.as_array().unwrap();
    assert_eq!(partners.len(), 1);
    assert_eq!(partners[0]["name"], partner.name.as_str());
    assert_eq!(partners[0]["status"], "ACTIVE");
    let keys = partners[0]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["name"], partner.key_name.as_str());
    assert!(keys[0]["revoke_time"].is_string());
    assert_eq!(keys[1]["name"], live_key);
    assert!(keys[1]["revoke_time"].is_null());
    assert!(
        partner
            .api_key
            .starts_with(keys[0]["prefix"].as_str().unwrap()),
        "the prefix tells which key it is"
    );
    let text = tessera_ok(&["support", "partners", "--database-url", url]);
    assert_says(&text, &["\"Telekom\"", "revoked", "live"]);
    app.stop().await;
}

#[test]
fn a_command_run_where_there_is_no_database_creates_none_and_says_where_it_looked() {
    let dir = Scratch::new("elsewhere");
    for args in [
        &["partner", "create", "Telekom"][..],
        &["support", "partners"],
        &[
            "keys", "issue", "--plan", "deluxe-3", "--count", "1", "--batch", "b",
        ],
        &["backup", "--to", "copy.db"],
    ] {
        let output = tessera_command(args).current_dir(&dir.0).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_says(
            &stderr,
            &[
                "there is no database at tessera.db",
                &dir.0.display().to_string(),
                "--database-url sqlite:/path/to/tessera.db",
            ],
        );
    }
    assert!(
        !dir.path("tessera.db").exists(),
        "an empty database was created"
    );
    assert!(!dir.path("copy.db").exists());
}
