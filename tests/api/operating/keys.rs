//! `tessera keys issue` never loses a key: the CSV is written (owner-only, never over an
//! existing file) before the keys are committed, and nothing is committed when it cannot
//! be; the batch label survives as typed.

use super::{Scratch, assert_says, count_rows, mode, tessera_fails, tessera_ok};
use crate::support::{Db, email, on_both_backends, spawn_app};

const LABEL: &str = "2026-Q4 \"gold\", retail; ünïcödé";

on_both_backends!(
    issued_keys_are_written_with_their_label_as_typed_and_work,
    a_csv_that_cannot_be_written_stores_no_keys,
    an_existing_file_is_never_overwritten_and_no_keys_are_stored,
);

fn issue<'a>(database_url: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "keys",
        "issue",
        "--database-url",
        database_url,
        "--plan",
        "deluxe-3",
        "--count",
        "3",
        "--batch",
        LABEL,
        "--out",
        out,
    ]
}

/// The rows of a CSV as `keys issue` writes it, after checking its header.
fn rows(csv: impl std::io::Read) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_reader(csv);
    assert_eq!(
        reader.headers().unwrap(),
        vec!["product_key", "plan", "kind", "batch"]
    );
    reader.records().map(Result::unwrap).collect()
}

async fn issued_keys_are_written_with_their_label_as_typed_and_work(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let dir = Scratch::new("keys-csv");
    let out = dir.path("keys.csv");
    tessera_ok(&issue(&app.database_url, out.to_str().unwrap()));
    #[cfg(unix)]
    assert_eq!(mode(&out), 0o600, "the plaintext keys are the owner's only");
    let rows = rows(std::fs::File::open(&out).unwrap());
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(&row[1], "deluxe-3");
        assert_eq!(&row[2], "NEW");
        assert_eq!(&row[3], LABEL, "the label as typed");
    }
    assert_eq!(count_rows(&app.database_url, "product_keys").await, 3);

    let (_, token) = app.sign_up(&email()).await;
    let redeemed = app
        .redeem_key(&token, &rows[0][0], "")
        .await
        .expect("a key from the file works");
    assert_eq!(redeemed.plan, "plans/deluxe-3");

    // To standard output: the CSV and nothing else.
    let stdout = tessera_ok(&issue(&app.database_url, "-"));
    assert_eq!(rows_of(&stdout), 3);
    app.stop().await;
}

fn rows_of(csv: &str) -> usize {
    rows(csv.as_bytes()).len()
}

async fn a_csv_that_cannot_be_written_stores_no_keys(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let dir = Scratch::new("keys-unwritable");
    let out = dir.path("no-such-directory").join("keys.csv");
    let stderr = tessera_fails(&issue(&app.database_url, out.to_str().unwrap()));
    assert_says(
        &stderr,
        &[
            &format!("cannot create {}", out.display()),
            "no keys were stored",
        ],
    );
    assert_eq!(count_rows(&app.database_url, "product_keys").await, 0);
    app.stop().await;
}

async fn an_existing_file_is_never_overwritten_and_no_keys_are_stored(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let dir = Scratch::new("keys-existing");
    let out = dir.path("keys.csv");
    std::fs::write(&out, "the only copy of last week's keys\n").unwrap();
    let stderr = tessera_fails(&issue(&app.database_url, out.to_str().unwrap()));
    assert_says(
        &stderr,
        &["exists already", "never overwrites", "no keys were stored"],
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "the only copy of last week's keys\n"
    );
    assert_eq!(count_rows(&app.database_url, "product_keys").await, 0);
    app.stop().await;
}
