//! Start-up and command-line errors name their cause and what to do, on standard error,
//! in one line and without a backtrace.

use super::{Scratch, assert_says, tessera_command, tessera_fails};
use crate::support::{Db, on_both_backends, spawn_app};

#[test]
fn a_port_in_use_is_named_with_what_to_do() {
    let dir = Scratch::new("port-in-use");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = tessera_command(&["serve", "--listen", &address])
        .args(["--database-url", &dir.sqlite_url("tessera.db")])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_says(
        &stderr,
        &[
            "error: the server could not start: ",
            &format!("cannot listen on {address}"),
            "in use",
            "--listen or TESSERA_LISTEN",
        ],
    );
    assert!(!stderr.contains("backtrace"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1
    );
}

#[test]
fn a_missing_key_file_is_named() {
    let dir = Scratch::new("missing-key-file");
    let missing = dir.path("no-such-key");
    for flag in ["--secret-key-file", "--admin-token-file"] {
        let stderr = tessera_fails(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &dir.sqlite_url("tessera.db"),
            flag,
            missing.to_str().unwrap(),
        ]);
        assert_says(
            &stderr,
            &[
                "cannot read the",
                &missing.display().to_string(),
                flag,
                "No such file",
            ],
        );
    }
}

#[test]
fn a_certificate_that_is_not_valid_pem_is_named() {
    let dir = Scratch::new("bad-pem");
    let pem = dir.path("root.pem");
    std::fs::write(
        &pem,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let stderr = tessera_fails(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &dir.sqlite_url("tessera.db"),
        "--apple-bundle-id",
        "com.example.suite",
        "--apple-root-certificate",
        pem.to_str().unwrap(),
    ]);
    assert_says(
        &stderr,
        &[
            &format!("the App Store root certificate {}", pem.display()),
            "is not valid PEM",
            "--apple-root-certificate",
        ],
    );
}

on_both_backends!(a_database_migrated_by_a_newer_version_is_refused_with_what_to_do);

async fn a_database_migrated_by_a_newer_version_is_refused_with_what_to_do(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    // A newer Tessera applied a migration this one does not have.
    let applied = match db {
        Db::Sqlite => "(9999, 'from a newer version', TRUE, X'00', 0)",
        Db::Postgres => "(9999, 'from a newer version', TRUE, '\\x00'::bytea, 0)",
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
         execution_time) VALUES {applied}"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let expected = [
        "was migrated by a newer Tessera (migration 9999",
        "run that version or a newer one, or restore a backup",
    ];
    let stderr = tessera_fails(&["migrate", "--database-url", &app.database_url]);
    assert_says(&stderr, &expected);
    let stderr = tessera_fails(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &app.database_url,
    ]);
    assert_says(&stderr, &expected);
    app.stop().await;
}
