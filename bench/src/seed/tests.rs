use super::*;
use crate::database::Database;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use tessera::domain::{catalog::Catalog, principal::Principal, principal::Scope};

const SUBSCRIPTIONS: u64 = 25;
const SEATS: u64 = 3;

fn shape() -> Shape {
    Shape {
        seed: Seed::random(),
        plan: Catalog::embedded().plan("premium-10").unwrap(),
        seats: SEATS,
    }
}

/// The one number `sql` selects, on either backend.
async fn scalar(url: &str, sql: &str) -> i64 {
    match Backend::of_url(url).unwrap() {
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(url).await.unwrap();
            let query = sqlx::query_scalar(AssertSqlSafe(sql.to_owned()));
            query.fetch_one(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(url).await.unwrap();
            let query = sqlx::query_scalar(AssertSqlSafe(sql.to_owned()));
            query.fetch_one(&mut conn).await.unwrap()
        }
    }
}

/// Loads in two steps (as a run growing from 10k to 1M does) and checks every table's
/// count, the denormalised seat counter and that the tokens are the ones the server
/// knows.
async fn loads_every_row_and_the_server_knows_the_tokens(url: &str) {
    let shape = shape();
    let mut reported = Vec::new();
    let first = load(url, &shape, 0..10, |n, _| reported.push(n))
        .await
        .unwrap();
    let second = load(url, &shape, 10..SUBSCRIPTIONS, |n, _| reported.push(n))
        .await
        .unwrap();
    assert_eq!(reported, [10, SUBSCRIPTIONS - 10]);
    let expected = |n: u64| Counts {
        accounts: n,
        sessions: n,
        subscriptions: n,
        seats: n * SEATS,
        device_tokens: n * SEATS,
    };
    assert_eq!(first, expected(10));
    assert_eq!(second, expected(SUBSCRIPTIONS - 10));

    for (table, rows) in [
        ("accounts", SUBSCRIPTIONS),
        ("sessions", SUBSCRIPTIONS),
        ("subscriptions", SUBSCRIPTIONS),
        ("seats", SUBSCRIPTIONS * SEATS),
        ("device_tokens", SUBSCRIPTIONS * SEATS),
    ] {
        let counted = scalar(url, &format!("SELECT COUNT(*) FROM {table}")).await;
        assert_eq!(counted, rows as i64, "{table}");
    }
    let miscounted = scalar(
        url,
        "SELECT COUNT(*) FROM subscriptions s WHERE s.active_seats <> \
         (SELECT COUNT(*) FROM seats t WHERE t.subscription_id = s.id \
          AND t.deactivated_at IS NULL)",
    )
    .await;
    assert_eq!(miscounted, 0, "active_seats counts the active seats");

    let store = tessera::store::connect(url).await.unwrap();
    let seed = &shape.seed;
    for i in [0, 9, 10, SUBSCRIPTIONS - 1] {
        let id = seed.subscription_id(i);
        let subscription = store.subscription(Scope::All, id).await.unwrap();
        assert_eq!(subscription.account_id, Some(seed.account_id(i)));
        assert_eq!(subscription.active_seats, SEATS as i64);
        assert!(subscription.status.takes_seats());
        let hash = token_hash(&seed.device_token(i, SEATS - 1));
        assert_eq!(
            store.device_principal(&hash).await.unwrap(),
            Some(Principal::Device {
                seat_id: seed.seat_id(i, SEATS - 1),
                subscription_id: id,
                active: true,
            })
        );
        let (account, _) = store
            .account_credentials(&seed.email(i))
            .await
            .unwrap()
            .expect("the account is found by its e-mail");
        assert_eq!(account, seed.account_id(i));
    }
    store.close().await;
}

#[tokio::test]
async fn the_loader_fills_an_sqlite_file() {
    let dir = std::env::temp_dir().join(format!("tessera-bench-test-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let database = Database::sqlite(&dir);
    loads_every_row_and_the_server_knows_the_tokens(database.url()).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn the_loader_fills_a_postgres_database() {
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .expect("TEST_DATABASE_URL is set wherever PostgreSQL tests run");
    let name = format!("tessera_bench_test_{}", Uuid::new_v4().simple());
    let database = Database::postgres(&admin_url, &name).await.unwrap();
    loads_every_row_and_the_server_knows_the_tokens(database.url()).await;
    database.remove().await.unwrap();
}

#[test]
fn seats_beyond_the_plans_limit_are_refused() {
    let shape = Shape {
        seats: 4,
        plan: Catalog::embedded().plan("deluxe-3").unwrap(),
        ..shape()
    };
    assert!(shape.rows(0..1).is_err());
}
