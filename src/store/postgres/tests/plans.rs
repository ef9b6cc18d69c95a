//! Queries that must be answered through an index, whatever the table's size: with the
//! alternatives ruled out, the planner shows whether it can use the index at all.

use super::{TestDb, at};
use crate::store::{Store, postgres::subscriptions::CLAIM_DUE};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn due_work_is_claimed_through_its_partial_index() {
    let (db, store) = TestDb::store("plans").await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    // On an empty table anything is cheap: rule out reading it whole, and reading an
    // index's rows to sort them afterwards.
    for setting in ["enable_seqscan", "enable_bitmapscan"] {
        sqlx::query(AssertSqlSafe(format!("SET {setting} = off")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let plan: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!("EXPLAIN {CLAIM_DUE}")))
        .bind(at(1_767_225_600_000_000))
        .bind(at(1_766_620_800_000_000))
        .bind(100_i64)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    // In index order, so that the limit stops the scan.
    assert!(
        plan.iter()
            .any(|line| line.contains("Index Scan using subscriptions_due")),
        "claim_due does not scan subscriptions_due: {plan:#?}"
    );
    assert!(
        !plan.iter().any(|line| line.contains("Sort")),
        "claim_due sorts: {plan:#?}"
    );
    conn.close().await.unwrap();
    store.close().await;
    db.drop_database().await;
}
