//! What `ActivateSeat` costs PostgreSQL itself: pgbench running the statements the
//! server's transaction runs, at the same concurrency, on the same database. The script
//! follows `Services::activate_seat` (`src/service/seats.rs`) and the SQL of the
//! PostgreSQL store for it — in one transaction `lock_subscription` (`FOR UPDATE`),
//! `active_seats`, `insert_seat`, `save_subscription`, `insert_device_token`, and at
//! commit the outbox row (`event_batches`, with a real `SEAT_ACTIVATED` payload of this
//! run); after the commit, the read model's change notice. The session is verified from
//! the server's memory, so its lookup is not here; the sequencer's numbering passes,
//! which serve many commits each, are not either. pgbench adds one statement per
//! transaction, picking the next free seat from a table of targets. Keep it in step with
//! the store's SQL.

use crate::targets::{SeatPool, Target};
use anyhow::{Context as _, Result, bail, ensure};
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder};
use std::{path::Path, process::Command, time::Duration};
use tessera::domain::secret::token_hash;

/// What pgbench reported.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outcome {
    /// Transactions per second, without connection time.
    pub tps: f64,
    /// Transactions committed.
    pub processed: u64,
    /// Transactions that failed.
    pub failed: u64,
}

/// Takes `count` free seats from `pool` into the table the script reads its targets
/// from, with the session of each one's account. Fewer when the pool runs out.
pub async fn prepare(
    url: &str,
    pool: &SeatPool,
    count: u64,
    subscription_id: impl Fn(u64) -> uuid::Uuid,
    account_id: impl Fn(u64) -> uuid::Uuid,
    session_token: impl Fn(u64) -> String,
) -> Result<u64> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query(
        "CREATE TABLE bench_pgbench_targets (n bigint PRIMARY KEY, subscription_id uuid \
         NOT NULL, account_id uuid NOT NULL, session_hash text NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query("CREATE SEQUENCE bench_pgbench_cursor")
        .execute(&mut conn)
        .await?;
    let targets: Vec<Target> = (0..count)
        .map_while(|_| pool.take(&subscription_id))
        .collect();
    for (chunk_index, chunk) in targets.chunks(10_000).enumerate() {
        let mut query = QueryBuilder::<Postgres>::new(
            "INSERT INTO bench_pgbench_targets (n, subscription_id, account_id, session_hash) ",
        );
        query.push_values(chunk.iter().enumerate(), |mut b, (k, target)| {
            let n = (chunk_index * 10_000 + k + 1) as i64;
            b.push_bind(n)
                .push_bind(target.subscription)
                .push_bind(account_id(target.account))
                .push_bind(token_hash(&session_token(target.account)));
        });
        query.build().execute(&mut conn).await?;
    }
    sqlx::query("ANALYZE bench_pgbench_targets")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(targets.len() as u64)
}

/// A real `SEAT_ACTIVATED` event payload written by the server in this run.
pub async fn sample_payload(url: &str) -> Result<String> {
    let mut conn = PgConnection::connect(url).await?;
    let payload: Option<String> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE event_type = 'SEAT_ACTIVATED' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut conn)
    .await?;
    conn.close().await?;
    payload.context("the server wrote no SEAT_ACTIVATED event to copy")
}

/// `text` as a PostgreSQL escape-string literal in which no `:` appears (pgbench would
/// read `:26` of a timestamp as a variable).
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str("E'");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            ':' => out.push_str("\\x3a"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The pgbench script of one activation, with `payload` as the event's.
pub fn script(payload: &str) -> String {
    let payload = literal(payload);
    format!(
        r#"-- ActivateSeat's statements (see tessera-bench's pgbench.rs), one new device each.
\set device random(1, 1000000000000)
SELECT subscription_id AS sub, account_id AS account, session_hash AS session
  FROM bench_pgbench_targets WHERE n = (SELECT nextval('bench_pgbench_cursor')) \gset
BEGIN;
SELECT s.id AS id, s.plan_code AS plan_code, s.channel AS channel, s.status AS status,
  s.account_id AS account_id, s.seat_limit AS seat_limit, s.active_seats AS active_seats,
  s.term_start AS term_start, s.term_end AS term_end, s.auto_renew AS auto_renew,
  s.cancel_at_period_end AS cancel_at_period_end, s.partner_id AS partner_id,
  s.partner_reference AS partner_reference, s.product_key AS product_key,
  s.created_at AS created_at, s.updated_at AS updated_at
  FROM subscriptions s WHERE s.id = :sub AND s.account_id = :account FOR UPDATE;
SELECT t.id AS id, t.subscription_id AS subscription_id, t.device_id AS device_id,
  t.platform AS platform, t.display_name AS display_name, t.activated_at AS activated_at,
  t.last_seen_at AS last_seen_at, t.deactivated_at AS deactivated_at
  FROM seats t WHERE t.subscription_id = :sub AND t.deactivated_at IS NULL
  ORDER BY t.activated_at, t.id;
INSERT INTO seats (id, subscription_id, device_id, platform, display_name, activated_at,
  last_seen_at, deactivated_at)
  VALUES (gen_random_uuid(), :sub, 'pgbench-' || :client_id || '-' || :device, 'WINDOWS',
  'Bench device', now(), now(), NULL) RETURNING id AS seat \gset
UPDATE subscriptions SET plan_code = plan_code, status = status, account_id = account_id,
  seat_limit = seat_limit, active_seats = active_seats + 1, term_start = term_start,
  term_end = term_end, auto_renew = auto_renew,
  cancel_at_period_end = cancel_at_period_end, partner_reference = partner_reference,
  updated_at = now() WHERE id = :sub;
INSERT INTO device_tokens (token_hash, seat_id, created_at)
  VALUES (md5(random()::text) || md5(random()::text), :seat, now());
INSERT INTO event_batches (created_at, event_types, subscription_ids, partner_ids,
  account_ids, payloads)
  VALUES (now(), ARRAY['SEAT_ACTIVATED']::text[], ARRAY[:sub]::uuid[], ARRAY[NULL]::uuid[],
  ARRAY[:account]::uuid[], ARRAY[{payload}]::text[]);
COMMIT;
SELECT pg_notify('tessera_changes', 's' || CAST(:sub AS text) || ' a' || CAST(:account AS text));
"#
    )
}

/// Runs the script at `script_path` with `clients` connections for `duration`.
pub fn run(
    binary: &str,
    url: &str,
    script_path: &Path,
    clients: usize,
    duration: Duration,
) -> Result<Outcome> {
    let output = Command::new(binary)
        .args(["--no-vacuum", "--protocol=prepared"])
        .arg(format!("--client={clients}"))
        .arg("--jobs=2")
        .arg(format!("--time={}", duration.as_secs().max(1)))
        .arg(format!("--file={}", script_path.display()))
        .arg(url)
        .output()
        .with_context(|| format!("running {binary} (it comes with PostgreSQL)"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("pgbench failed with {}:\n{stdout}\n{stderr}", output.status);
    }
    let outcome = parse(&stdout).with_context(|| format!("reading pgbench's report:\n{stdout}"))?;
    ensure!(
        outcome.failed == 0 && !stderr.contains("aborted"),
        "pgbench transactions failed:\n{stdout}\n{stderr}"
    );
    Ok(outcome)
}

/// Seats pgbench took: every committed transaction took one.
pub async fn seats_taken(url: &str) -> Result<u64> {
    let mut conn = PgConnection::connect(url).await?;
    let taken: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM seats WHERE device_id LIKE 'pgbench-%'")
            .fetch_one(&mut conn)
            .await?;
    conn.close().await?;
    Ok(taken as u64)
}

/// Reads pgbench's report.
pub fn parse(report: &str) -> Result<Outcome> {
    let after = |prefix: &str| {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .with_context(|| format!("no `{prefix}` line"))
    };
    let first_word = |text: &str| text.split_whitespace().next().unwrap_or("").to_owned();
    Ok(Outcome {
        tps: first_word(after("tps = ")?).parse()?,
        processed: first_word(after("number of transactions actually processed:")?)
            .split('/')
            .next()
            .unwrap_or("")
            .parse()?,
        failed: match after("number of failed transactions:") {
            Ok(text) => first_word(text).parse()?,
            Err(_) => 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: activate_seat.sql
scaling factor: 1
query mode: prepared
number of clients: 64
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 41234
number of failed transactions: 0 (0.000%)
latency average = 15.521 ms
initial connection time = 45.120 ms
tps = 4123.456789 (without initial connection time)
";

    #[test]
    fn the_report_gives_tps_and_counts() {
        assert_eq!(
            parse(REPORT).unwrap(),
            Outcome {
                tps: 4123.456789,
                processed: 41234,
                failed: 0
            }
        );
        assert!(parse("pgbench (15)\n").is_err());
    }

    #[test]
    fn the_payload_literal_has_no_colon_and_round_trips_quotes() {
        let payload = r#"{"at":"2026-12-01T17:26:33Z","name":"O'Brien \ co"}"#;
        let literal = literal(payload);
        assert!(!literal.contains(':'), "{literal}");
        assert_eq!(
            literal,
            r#"E'{"at"\x3a"2026-12-01T17\x3a26\x3a33Z","name"\x3a"O\'Brien \\ co"}'"#
        );
        let script = script(payload);
        assert!(script.contains(&literal));
        assert!(!script.contains("{payload}"));
    }
}
