//! Records stored by earlier versions stay readable. `tests/fixtures/stored/` holds rows
//! of `events` and `idempotency_keys` exactly as commit 0fdacf9 wrote them (see its
//! README); each test writes them raw into a fresh server's database and reads them
//! back through the public API only, as a carrier or support tool would. So whatever
//! the stored form becomes, these tests keep holding the server to reading what is
//! already in production databases.

mod describe;
mod fixtures;
mod requests;

use crate::support::{ADMIN_TOKEN, Db, TestApp, WAIT, on_both_backends, spawn_app};
use describe::assert_same;
use fixtures::{Fixtures, StoredEvent, count, sha256_hex, text};
use requests::{METHODS, Request};
use serde_json::Value;
use std::collections::BTreeSet;
use tessera_client::{
    pb::{self, event_service_client::EventServiceClient},
    with_token,
};
use tokio::time::timeout;

on_both_backends!(
    every_stored_event_is_watched_as_it_was_written,
    each_partner_watches_only_its_own_stored_events_without_customer_details,
    every_stored_answer_is_replayed_as_first_answered_and_changes_nothing,
);

async fn every_stored_event_is_watched_as_it_was_written(db: Db) {
    let Some((app, fixtures)) = app_with_fixtures(db).await else {
        return;
    };
    let watched = watch_everything(&app, ADMIN_TOKEN, fixtures.events.len()).await;
    for (event, stored) in watched.iter().zip(&fixtures.events) {
        let seq = fixtures::integer(&stored.row, "seq");
        assert_same(
            &format!("event {seq}"),
            &describe::event(event),
            &stored.expected,
        );
    }
    app.stop().await;
}

async fn each_partner_watches_only_its_own_stored_events_without_customer_details(db: Db) {
    let Some((app, fixtures)) = app_with_fixtures(db).await else {
        return;
    };
    for (partner_id, api_key) in &fixtures.principals.api_keys {
        // The events of the subscriptions this partner sold, and no others.
        let partner = format!("partners/{partner_id}");
        let own: Vec<&StoredEvent> = fixtures
            .events
            .iter()
            .filter(|e| e.expected["subscription_state"]["partner"] == partner.as_str())
            .collect();
        assert!(!own.is_empty(), "partner {partner_id} has stored events");
        let watched = watch_everything(&app, api_key, own.len()).await;
        for (event, stored) in watched.iter().zip(own) {
            let seq = fixtures::integer(&stored.row, "seq");
            assert_same(
                &format!("partner {partner_id}'s event {seq}"),
                &describe::event(event),
                &as_partner_sees(stored.expected.clone()),
            );
        }
    }
    app.stop().await;
}

async fn every_stored_answer_is_replayed_as_first_answered_and_changes_nothing(db: Db) {
    let Some((app, fixtures)) = app_with_fixtures(db).await else {
        return;
    };
    let tables = [
        "events",
        "idempotency_keys",
        "subscriptions",
        "partner_codes",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(count(&app, table).await);
    }
    for stored in &fixtures.answers {
        let scope = text(&stored.row, "scope");
        let request_id = text(&stored.row, "request_id");
        let what = format!("{} {request_id} of {scope}", stored.method);
        let request = Request::from_fields(&stored.method, &stored.request);
        assert_eq!(
            request.fingerprint(),
            text(&stored.row, "fingerprint"),
            "the fixture keeps the request that {what} answered"
        );
        let answer = request
            .send(&app, &fixtures.token_for(scope))
            .await
            .unwrap_or_else(|status| panic!("{what} is refused: {status:?}"));
        // The database holds no subscription at all: everything in the answer, the
        // partner codes, end times and days left as of the first answer included, can
        // only come from the stored answer.
        assert_same(&what, &answer, &stored.expected);
    }
    for (table, before) in tables.into_iter().zip(before) {
        assert_eq!(
            count(&app, table).await,
            before,
            "replays change no {table}"
        );
    }
    app.stop().await;
}

#[test]
fn the_fixtures_hold_every_event_type_and_every_method_that_stores_answers() {
    let fixtures = fixtures::load();
    let stored_types: BTreeSet<&str> = fixtures
        .events
        .iter()
        .map(|e| text(&e.row, "event_type"))
        .collect();
    let every_type: BTreeSet<&str> = (1..)
        .map_while(|raw| pb::EventType::try_from(raw).ok())
        .map(|t| t.as_str_name().trim_start_matches("EVENT_TYPE_"))
        .collect();
    assert_eq!(every_type.len(), 17);
    assert_eq!(stored_types, every_type);

    let stored_methods: BTreeSet<&str> =
        fixtures.answers.iter().map(|a| a.method.as_str()).collect();
    assert_eq!(stored_methods, METHODS.iter().copied().collect());
    let callers: BTreeSet<&str> = fixtures
        .answers
        .iter()
        .map(|a| text(&a.row, "scope").split(':').next().unwrap())
        .collect();
    assert_eq!(callers, ["account", "admin", "partner"].into());
}

#[test]
fn the_api_key_kept_for_each_partner_is_one_of_its_stored_keys() {
    let principals = fixtures::load().principals;
    let stored: BTreeSet<(&str, &str)> = principals
        .partner_keys
        .iter()
        .map(|key| (text(key, "partner_id"), text(key, "key_hash")))
        .collect();
    assert_eq!(principals.api_keys.len(), principals.partners.len());
    for (partner_id, api_key) in &principals.api_keys {
        let hash = sha256_hex(api_key.as_bytes());
        assert!(
            stored.contains(&(partner_id.as_str(), hash.as_str())),
            "{partner_id}"
        );
    }
}

/// A fresh server whose database holds the fixture rows, or `None` when the backend is
/// not available. Its clock runs years past the stored records, so days left that were
/// computed now rather than at the stored times would show.
async fn app_with_fixtures(db: Db) -> Option<(TestApp, Fixtures)> {
    let app = spawn_app(db).await?;
    app.clock.advance(chrono::Duration::days(1000));
    let fixtures = fixtures::load();
    fixtures.insert_into(&app).await;
    Some((app, fixtures))
}

/// Every event `token` may see from the start: exactly `count` of them, then silence.
async fn watch_everything(app: &TestApp, token: &str, count: usize) -> Vec<pb::Event> {
    let mut stream = EventServiceClient::new(app.channel.clone())
        .watch_events(with_token(token, pb::WatchEventsRequest::default()))
        .await
        .expect("the stored events can be watched")
        .into_inner();
    let mut events = Vec::new();
    while events.len() < count {
        let message = timeout(WAIT, stream.message())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} events arrived", events.len()))
            .expect("the stream does not fail")
            .expect("the stream stays open");
        events.push(message.event.expect("every message carries an event"));
    }
    // The stored rows are all committed before the watch starts, so they come in the
    // first read: anything more would have arrived at once.
    let more = timeout(std::time::Duration::from_millis(500), stream.message()).await;
    assert!(more.is_err(), "nothing follows the stored events: {more:?}");
    events
}

/// What a partner is shown of an event the admin sees as `admin_view`: no seat, no
/// account, not which customer acted, and of the details only the previous plan and the
/// kind of product key (`view` in `src/api/events.rs`).
fn as_partner_sees(mut admin_view: Value) -> Value {
    admin_view["seat"] = Value::Null;
    admin_view["subscription_state"]["account"] = "".into();
    if admin_view["actor_kind"] == "ACTOR_KIND_ACCOUNT" {
        admin_view["actor"] = "".into();
    }
    if let Value::Object(details) = &mut admin_view["details"] {
        details.retain(|key, _| key == "previous_plan" || key == "kind");
    }
    admin_view
}
