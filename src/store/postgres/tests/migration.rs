//! Migration 0005 converts a PostgreSQL database of 0001-0004 (text ids, BIGINT
//! micro-second instants, 0/1 flags) to native types in place: every row of every table
//! reads back exactly, through SQL and through the store, and the constraints and
//! indexes are all still there.

use super::{TestDb, at};
use crate::{
    domain::{
        account::Account,
        event::StoredEvent,
        idempotency::{IdempotencyKey, StoredRequest},
        page::PageRequest,
        partner::{Partner, PartnerKey, PartnerStatus},
        principal::{Principal, Scope},
        purchase::{StoreKind, StorePurchase},
        redemption::{PartnerCode, ProductKey, ProductKeyKind},
        seat::{Platform, Seat},
        subscription::{Channel, Status, Subscription},
        throttle::AttemptCounter,
    },
    store::{
        AccountStore, OutboxStore, PartnerStore, SeatStore, Store, SubscriptionStore, WriteContext,
        postgres::{MIGRATIONS, PgStore},
    },
};
use chrono::{DateTime, Utc};
use sqlx::{Executor, PgConnection, PgPool, Row};
use std::collections::BTreeSet;
use uuid::Uuid;

// Instants as 0001-0004 stored them, chosen to catch any rounding: odd micro-seconds,
// one just before the epoch, and two past 2^53 micro-seconds either side of it, where
// double precision no longer holds every micro-second.
const T0: i64 = 1_767_225_600_123_457; // 2026-01-01T00:00:00.123457Z
const T1: i64 = 1_769_904_000_000_001; // 2026-02-01T00:00:00.000001Z
const T2: i64 = 1_798_761_599_999_999; // 2026-12-31T23:59:59.999999Z
const BEFORE_EPOCH: i64 = -1; // 1969-12-31T23:59:59.999999Z
const FAR: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
const ANCIENT: i64 = -62_135_596_800_000_001; // 0001-12-31T23:59:59.999999Z BC

struct Ids {
    account: Uuid,
    other_account: Uuid,
    partner: Uuid,
    key: Uuid,
    revoked_key: Uuid,
    subscription: Uuid,
    carrier: Uuid,
    seat: Uuid,
    freed_seat: Uuid,
}

/// Rows in every table, in the 0001-0004 representation.
async fn insert_old_rows(conn: &mut PgConnection, ids: &Ids) {
    let statements = [
        format!(
            "INSERT INTO accounts VALUES ('{}', 'ada@example.com', 'phc-ada', 'Ada', {T0}), \
             ('{}', 'bob@example.com', 'phc-bob', 'Bob', {BEFORE_EPOCH})",
            ids.account, ids.other_account
        ),
        format!(
            "INSERT INTO sessions VALUES ('session-hash', '{}', {T0}, {FAR}), \
             ('other-session-hash', '{}', {T0}, {T1})",
            ids.account, ids.other_account
        ),
        format!(
            "INSERT INTO partners VALUES ('{}', 'Telekom', 'ACTIVE', {T0})",
            ids.partner
        ),
        format!(
            "INSERT INTO partner_keys VALUES ('{}', '{}', 'key-hash', 'tsp_abcdefgh', {T0}, NULL), \
             ('{}', '{}', 'revoked-key-hash', 'tsp_zyxwvuts', {T0}, {T1})",
            ids.key, ids.partner, ids.revoked_key, ids.partner
        ),
        // A direct subscription that renews and is flagged to cancel, and an unclaimed
        // carrier one that does neither.
        format!(
            "INSERT INTO subscriptions VALUES \
             ('{}', 'deluxe-3', 'DIRECT', 'ACTIVE', '{}', 3, 1, {T0}, {T2}, 1, 1, NULL, NULL, \
              'ABCDE-FGHJK', {T0}, {T1}), \
             ('{}', 'standard-1', 'CARRIER', 'SUSPENDED', NULL, 1, 0, {BEFORE_EPOCH}, {FAR}, 0, 0, \
              '{}', 'contract-7', NULL, {T1}, {T2})",
            ids.subscription, ids.account, ids.carrier, ids.partner
        ),
        format!(
            "INSERT INTO seats VALUES \
             ('{}', '{}', 'device-1', 'WINDOWS', 'Laptop', {T0}, {T2}, NULL), \
             ('{}', '{}', 'device-2', 'IOS', 'Phone', {T0}, {T1}, {T1})",
            ids.seat, ids.subscription, ids.freed_seat, ids.subscription
        ),
        format!(
            "INSERT INTO device_tokens VALUES ('device-token-hash', '{}', {T0})",
            ids.seat
        ),
        format!(
            "INSERT INTO idempotency_keys VALUES ('partner:{}', 'req-1', 'fp', '{{\"value\":1}}', {T1})",
            ids.partner
        ),
        format!(
            "INSERT INTO partner_codes VALUES \
             ('code-hash', '{}', {T0}, {FAR}, NULL, NULL, NULL), \
             ('redeemed-code-hash', '{}', {T0}, {T2}, {T1}, '{}', {T2})",
            ids.carrier, ids.subscription, ids.account
        ),
        format!(
            "INSERT INTO account_links VALUES ('{}', '{}', 'contract-7', {T1})",
            ids.account, ids.partner
        ),
        format!(
            "INSERT INTO product_keys VALUES \
             ('fresh-key-hash', 'deluxe-3', 'NEW', 'batch', {T0}, NULL, NULL, NULL), \
             ('used-key-hash', 'deluxe-3', 'RENEWAL', 'batch', {T0}, {T1}, '{}', '{}')",
            ids.account, ids.subscription
        ),
        format!(
            "INSERT INTO redemption_failures VALUES ('account:{}', {ANCIENT}, 3)",
            ids.account
        ),
        "INSERT INTO server_secrets VALUES ('code-key', 'c0ffee')".to_owned(),
        "UPDATE event_sequence SET last = 2 WHERE id = 1".to_owned(),
        format!(
            "INSERT INTO events VALUES \
             (1, 'SUBSCRIPTION_CREATED', '{}', NULL, '{}', '{{\"e\":1}}', {T0}), \
             (2, 'SUBSCRIPTION_SUSPENDED', '{}', '{}', NULL, '{{\"e\":2}}', {T1})",
            ids.subscription, ids.account, ids.carrier, ids.partner
        ),
        format!(
            "INSERT INTO store_purchases VALUES \
             ('APP_STORE', '2000000123456789', '{}', 'com.vendor.suite.deluxe-3', 'Production', \
              {T0}, {T1})",
            ids.subscription
        ),
    ];
    for sql in statements {
        conn.execute(sqlx::AssertSqlSafe(sql.clone()))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

fn expected_subscription(ids: &Ids) -> Subscription {
    Subscription {
        id: ids.subscription,
        plan_code: "deluxe-3".into(),
        channel: Channel::Direct,
        status: Status::Active,
        account_id: Some(ids.account),
        seat_limit: 3,
        active_seats: 1,
        term_start: at(T0),
        term_end: at(T2),
        auto_renew: true,
        cancel_at_period_end: true,
        partner_id: None,
        partner_reference: None,
        product_key: Some("ABCDE-FGHJK".into()),
        created_at: at(T0),
        updated_at: at(T1),
    }
}

fn expected_carrier(ids: &Ids) -> Subscription {
    Subscription {
        id: ids.carrier,
        plan_code: "standard-1".into(),
        channel: Channel::Carrier,
        status: Status::Suspended,
        account_id: None,
        seat_limit: 1,
        active_seats: 0,
        term_start: at(BEFORE_EPOCH),
        term_end: at(FAR),
        auto_renew: false,
        cancel_at_period_end: false,
        partner_id: Some(ids.partner),
        partner_reference: Some("contract-7".into()),
        product_key: None,
        created_at: at(T1),
        updated_at: at(T2),
    }
}

/// Everything inserted before 0005, read back through the store.
async fn read_back_through_the_store(store: &PgStore, ids: &Ids) {
    assert_eq!(
        store.account(Scope::All, ids.account).await.unwrap(),
        Account {
            id: ids.account,
            email: "ada@example.com".into(),
            display_name: "Ada".into(),
            created_at: at(T0),
            linked_identities: vec![(ids.partner, "contract-7".into())],
        }
    );
    assert_eq!(
        store
            .account(Scope::All, ids.other_account)
            .await
            .unwrap()
            .created_at,
        at(BEFORE_EPOCH)
    );
    assert_eq!(
        store.account_credentials("ada@example.com").await.unwrap(),
        Some((ids.account, "phc-ada".into()))
    );
    assert_eq!(
        store
            .session("session-hash")
            .await
            .unwrap()
            .map(|(account, _)| account),
        Some(ids.account)
    );
    assert_eq!(
        store
            .subscription(Scope::All, ids.subscription)
            .await
            .unwrap(),
        expected_subscription(ids)
    );
    assert_eq!(
        store
            .subscription(Scope::Partner(ids.partner), ids.carrier)
            .await
            .unwrap(),
        expected_carrier(ids)
    );
    let seats = store
        .list_seats(
            Scope::Account(ids.account),
            ids.subscription,
            true,
            &PageRequest::parse(0, "").unwrap(),
        )
        .await
        .unwrap();
    let mut expected_seats = vec![
        Seat {
            id: ids.seat,
            subscription_id: ids.subscription,
            device_id: "device-1".into(),
            platform: Platform::Windows,
            display_name: "Laptop".into(),
            activated_at: at(T0),
            last_seen_at: at(T2),
            deactivated_at: None,
        },
        Seat {
            id: ids.freed_seat,
            subscription_id: ids.subscription,
            device_id: "device-2".into(),
            platform: Platform::Ios,
            display_name: "Phone".into(),
            activated_at: at(T0),
            last_seen_at: at(T1),
            deactivated_at: Some(at(T1)),
        },
    ];
    // Equal activation times: then by id.
    expected_seats.sort_by_key(|seat| (seat.activated_at, seat.id));
    assert_eq!(seats.items, expected_seats);
    assert_eq!(
        store.device_principal("device-token-hash").await.unwrap(),
        Some(Principal::Device {
            seat_id: ids.seat,
            subscription_id: ids.subscription,
            active: true,
        })
    );
    let telekom = Partner {
        id: ids.partner,
        display_name: "Telekom".into(),
        status: PartnerStatus::Active,
        created_at: at(T0),
    };
    assert_eq!(
        store.partner(ids.partner).await.unwrap(),
        Some(telekom.clone())
    );
    assert_eq!(
        store.partner_key_by_hash("revoked-key-hash").await.unwrap(),
        Some((
            telekom,
            PartnerKey {
                id: ids.revoked_key,
                partner_id: ids.partner,
                prefix: "tsp_zyxwvuts".into(),
                created_at: at(T0),
                revoked_at: Some(at(T1)),
            }
        ))
    );
    assert_eq!(
        store
            .partner_key(ids.partner, ids.key)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    assert_eq!(
        store.events_after(Scope::All, 0, None, 10).await.unwrap(),
        vec![
            StoredEvent {
                seq: 1,
                payload: r#"{"e":1}"#.into(),
                created_at: at(T0),
            },
            StoredEvent {
                seq: 2,
                payload: r#"{"e":2}"#.into(),
                created_at: at(T1),
            },
        ]
    );
    assert_eq!(
        store
            .events_after(Scope::Partner(ids.partner), 0, Some(ids.carrier), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.last_event_seq().await.unwrap(), 2);
    assert_eq!(
        store.server_secret("code-key").await.unwrap(),
        b"c0ffee".to_vec()
    );

    let mut unit = store
        .begin(WriteContext {
            author: None,
            request_id: None,
            now: at(T2),
        })
        .await
        .unwrap();
    assert_eq!(
        unit.lock_partner_code("redeemed-code-hash").await.unwrap(),
        Some(PartnerCode {
            hash: "redeemed-code-hash".into(),
            subscription_id: ids.subscription,
            created_at: at(T0),
            expires_at: at(T2),
            redeemed_at: Some(at(T1)),
            redeemed_by: Some(ids.account),
            revoked_at: Some(at(T2)),
        })
    );
    assert_eq!(
        unit.live_partner_codes(ids.carrier).await.unwrap()[0].expires_at,
        at(FAR)
    );
    assert_eq!(
        unit.lock_product_key("used-key-hash").await.unwrap(),
        Some(ProductKey {
            hash: "used-key-hash".into(),
            plan_code: "deluxe-3".into(),
            kind: ProductKeyKind::Renewal,
            batch_label: "batch".into(),
            issued_at: at(T0),
            redeemed_at: Some(at(T1)),
            redeemed_by: Some(ids.account),
            subscription_id: Some(ids.subscription),
        })
    );
    let subject = format!("account:{}", ids.account);
    assert_eq!(
        unit.lock_attempt_counter(&subject, at(FAR)).await.unwrap(),
        AttemptCounter {
            subject,
            last_attempt_at: at(ANCIENT),
            attempts: 3,
        }
    );
    assert_eq!(
        unit.lock_store_purchase(StoreKind::AppStore, "2000000123456789")
            .await
            .unwrap(),
        Some(StorePurchase {
            store: StoreKind::AppStore,
            original_id: "2000000123456789".into(),
            subscription_id: ids.subscription,
            product_id: "com.vendor.suite.deluxe-3".into(),
            environment: "Production".into(),
            latest_transaction_id: None,
            latest_purchased_at: None,
            latest_signed_at: None,
            renewal_signed_at: None,
            created_at: at(T0),
            updated_at: at(T1),
        })
    );
    let key = IdempotencyKey {
        scope: format!("partner:{}", ids.partner),
        request_id: "req-1".into(),
        fingerprint: "fp".into(),
    };
    assert_eq!(
        unit.stored_request(&key).await.unwrap(),
        Some(StoredRequest {
            fingerprint: "fp".into(),
            response: r#"{"value":1}"#.into(),
        })
    );
}

/// The types of the converted columns, and nothing left behind.
async fn check_column_types(pool: &PgPool) {
    // Tables of later migrations are theirs to check.
    let columns = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text, column_default::text \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name NOT IN ('_sqlx_migrations', 'event_batches')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    // Text and number columns that stay as they are although their names look like ids
    // or instants.
    let not_ids = [
        "original_id",
        "product_id",
        "request_id",
        "device_id",
        "latest_transaction_id",
    ];
    for column in &columns {
        let table: String = column.get(0);
        let name: String = column.get(1);
        let data_type: String = column.get(2);
        let what = format!("{table}.{name} is {data_type}");
        let is_id = (name == "id" || name.ends_with("_id") || name == "redeemed_by")
            && !not_ids.contains(&name.as_str())
            && table != "event_sequence";
        let is_instant = name.ends_with("_at")
            || ["term_start", "term_end", "last_attempt_at"].contains(&name.as_str());
        if is_id {
            assert_eq!(data_type, "uuid", "{what}");
        } else if is_instant {
            assert_eq!(data_type, "timestamp with time zone", "{what}");
        } else if ["auto_renew", "cancel_at_period_end"].contains(&name.as_str()) {
            assert_eq!(data_type, "boolean", "{what}");
        } else {
            assert!(
                ["text", "bigint"].contains(&data_type.as_str()),
                "{what}: left unconverted?"
            );
        }
    }
    let default: Option<String> = sqlx::query_scalar(
        "SELECT column_default::text FROM information_schema.columns \
         WHERE table_name = 'subscriptions' AND column_name = 'cancel_at_period_end'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(default.as_deref(), Some("false"));
}

/// The foreign keys, indexes and the seat-limit check of 0001-0004, all still there
/// and all still enforced.
async fn check_constraints(pool: &PgPool, ids: &Ids) {
    let foreign_keys: BTreeSet<(String, String)> = sqlx::query_as(
        "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE contype = 'f' AND connamespace = 'public'::regnamespace",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let expected: BTreeSet<(String, String)> = [
        (
            "sessions_account_id_fkey",
            "FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE",
        ),
        (
            "subscriptions_account_id_fkey",
            "FOREIGN KEY (account_id) REFERENCES accounts(id)",
        ),
        (
            "seats_subscription_id_fkey",
            "FOREIGN KEY (subscription_id) REFERENCES subscriptions(id)",
        ),
        (
            "device_tokens_seat_id_fkey",
            "FOREIGN KEY (seat_id) REFERENCES seats(id)",
        ),
        (
            "partner_keys_partner_id_fkey",
            "FOREIGN KEY (partner_id) REFERENCES partners(id)",
        ),
        (
            "partner_codes_subscription_id_fkey",
            "FOREIGN KEY (subscription_id) REFERENCES subscriptions(id)",
        ),
        (
            "partner_codes_redeemed_by_fkey",
            "FOREIGN KEY (redeemed_by) REFERENCES accounts(id)",
        ),
        (
            "account_links_account_id_fkey",
            "FOREIGN KEY (account_id) REFERENCES accounts(id)",
        ),
        (
            "account_links_partner_id_fkey",
            "FOREIGN KEY (partner_id) REFERENCES partners(id)",
        ),
        (
            "product_keys_redeemed_by_fkey",
            "FOREIGN KEY (redeemed_by) REFERENCES accounts(id)",
        ),
        (
            "product_keys_subscription_id_fkey",
            "FOREIGN KEY (subscription_id) REFERENCES subscriptions(id)",
        ),
        (
            "store_purchases_subscription_id_fkey",
            "FOREIGN KEY (subscription_id) REFERENCES subscriptions(id)",
        ),
    ]
    .into_iter()
    .map(|(name, definition)| (name.to_owned(), definition.to_owned()))
    .collect();
    assert_eq!(foreign_keys, expected);

    let indexes: BTreeSet<String> =
        sqlx::query_scalar("SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'")
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    for index in [
        "accounts_pkey",
        "accounts_email_key",
        "sessions_pkey",
        "subscriptions_pkey",
        "subscriptions_by_account",
        "subscriptions_by_partner",
        "subscriptions_by_partner_reference",
        "seats_pkey",
        "seats_one_active_per_device",
        "seats_by_subscription",
        "device_tokens_pkey",
        "device_tokens_by_seat",
        "idempotency_keys_pkey",
        "idempotency_keys_by_age",
        "partners_pkey",
        "partners_display_name_key",
        "partner_keys_pkey",
        "partner_keys_key_hash_key",
        "partner_keys_by_partner",
        "partner_codes_pkey",
        "partner_codes_by_subscription",
        "account_links_pkey",
        "product_keys_pkey",
        "attempt_counters_pkey",
        "server_secrets_pkey",
        "event_sequence_pkey",
        "events_pkey",
        "events_by_subscription",
        "events_by_partner",
        "store_purchases_pkey",
        "store_purchases_subscription_id_key",
    ] {
        assert!(indexes.contains(index), "index {index} is gone");
    }

    // The seat limit is still the database's.
    let over = sqlx::query("UPDATE subscriptions SET active_seats = 4 WHERE id = $1")
        .bind(ids.subscription)
        .execute(pool)
        .await
        .expect_err("4 active seats of 3");
    assert!(format!("{over}").contains("seats_within_limit"), "{over}");
    // One active seat per device.
    let twice = sqlx::query(
        "INSERT INTO seats (id, subscription_id, device_id, platform, display_name, \
         activated_at, last_seen_at) VALUES ($1, $2, 'device-1', 'WINDOWS', 'Again', now(), now())",
    )
    .bind(Uuid::now_v7())
    .bind(ids.subscription)
    .execute(pool)
    .await
    .expect_err("a second active seat of device-1");
    assert!(
        format!("{twice}").contains("seats_one_active_per_device"),
        "{twice}"
    );
    // References are checked.
    let dangling = sqlx::query(
        "INSERT INTO device_tokens (token_hash, seat_id, created_at) VALUES ('t', $1, now())",
    )
    .bind(Uuid::now_v7())
    .execute(pool)
    .await
    .expect_err("a token of no seat");
    assert!(
        format!("{dangling}").contains("device_tokens_seat_id_fkey"),
        "{dangling}"
    );
    // Sessions still go with their account.
    sqlx::query("DELETE FROM accounts WHERE id = $1")
        .bind(ids.other_account)
        .execute(pool)
        .await
        .unwrap();
    let sessions: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM sessions")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(sessions, vec!["session-hash".to_owned()]);
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn migration_0005_converts_every_table_in_place_keeping_every_row() {
    let db = TestDb::create("migration").await;
    let ids = Ids {
        account: Uuid::now_v7(),
        other_account: Uuid::now_v7(),
        partner: Uuid::now_v7(),
        key: Uuid::now_v7(),
        revoked_key: Uuid::now_v7(),
        subscription: Uuid::now_v7(),
        carrier: Uuid::now_v7(),
        seat: Uuid::now_v7(),
        freed_seat: Uuid::now_v7(),
    };
    {
        let pool = PgPool::connect(&db.url).await.unwrap();
        MIGRATIONS.run_to(4, &pool).await.expect("0001-0004 apply");
        let mut conn = pool.acquire().await.unwrap();
        insert_old_rows(&mut conn, &ids).await;
        drop(conn);
        pool.close().await;
    }

    let store = PgStore::connect(&db.url).await.unwrap();
    store
        .migrate()
        .await
        .expect("0005 applies on a database of 0004 with rows");
    store
        .migrate()
        .await
        .expect("and migrating again does nothing");
    read_back_through_the_store(&store, &ids).await;
    store.close().await;

    let pool = PgPool::connect(&db.url).await.unwrap();
    type SeatTimes = (DateTime<Utc>, DateTime<Utc>, Option<DateTime<Utc>>);
    let instants: Vec<SeatTimes> = sqlx::query_as(
        "SELECT activated_at, last_seen_at, deactivated_at FROM seats ORDER BY device_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        instants,
        vec![(at(T0), at(T2), None), (at(T0), at(T1), Some(at(T1)))]
    );
    let micros: i64 = sqlx::query_scalar(
        "SELECT (EXTRACT(EPOCH FROM term_end) * 1000000)::bigint FROM subscriptions WHERE id = $1",
    )
    .bind(ids.carrier)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(micros, FAR);
    check_column_types(&pool).await;
    check_constraints(&pool, &ids).await;
    pool.close().await;
    db.drop_database().await;
}
