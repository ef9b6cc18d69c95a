//! `tessera backup` copies a running server's SQLite database into a file that opens as
//! a database with everything in it; `tessera health` asks a running server whether it
//! serves.

use super::{Scratch, ServerProcess, assert_says, mode, tessera_fails, tessera_ok};
use crate::support::{Db, email, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_server_runs_holds_everything_and_opens_as_a_database() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let address = email();
    let (account, _) = app.sign_up(&address).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    let dir = Scratch::new("backup");
    let copy = dir.path("tessera-backup.db");

    let said = tessera_ok(&[
        "backup",
        "--database-url",
        &app.database_url,
        "--to",
        copy.to_str().unwrap(),
    ]);
    assert_says(&said, &["backed up into", &copy.display().to_string()]);
    #[cfg(unix)]
    assert_eq!(mode(&copy), 0o600, "a backup holds hashes and e-mails");
    // Bought after the backup: not in it.
    app.buy(&account, "standard-1").await;

    let restored = format!("sqlite:{}", copy.display());
    let shown: serde_json::Value = serde_json::from_str(&tessera_ok(&[
        "support",
        "account",
        &address,
        "--json",
        "--database-url",
        &restored,
    ]))
    .unwrap();
    let names: Vec<&str> = shown["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [subscription.name.as_str()]);

    let before = std::fs::read(&copy).unwrap();
    let stderr = tessera_fails(&[
        "backup",
        "--database-url",
        &app.database_url,
        "--to",
        copy.to_str().unwrap(),
    ]);
    assert_says(&stderr, &["exists already", "never overwrites"]);
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    app.stop().await;
}

#[test]
fn a_postgresql_database_is_backed_up_with_pg_dump() {
    let dir = Scratch::new("backup-pg");
    let stderr = tessera_fails(&[
        "backup",
        "--database-url",
        "postgres://tessera:hunter2@127.0.0.1:9/tessera",
        "--to",
        dir.path("copy").to_str().unwrap(),
    ]);
    assert_says(
        &stderr,
        &["pg_dump", "postgres://tessera:***@127.0.0.1:9/tessera"],
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn the_health_command_answers_serving_for_a_running_server_and_fails_once_it_is_gone() {
    let dir = Scratch::new("health");
    let mut server = ServerProcess::start(&["--database-url", &dir.sqlite_url("tessera.db")]);
    let endpoint = format!("http://{}", server.address);
    assert_eq!(
        tessera_ok(&["health", "--endpoint", &endpoint]),
        "SERVING\n"
    );
    assert_eq!(
        tessera_ok(&[
            "health",
            "--endpoint",
            &endpoint,
            "--service",
            "tessera.v1.SeatService"
        ]),
        "SERVING\n"
    );
    // Without --endpoint it asks this machine on the --listen port, as a container's
    // HEALTHCHECK does with TESSERA_LISTEN=0.0.0.0:50051.
    let port = server.address.rsplit(':').next().unwrap();
    assert_eq!(
        tessera_ok(&["health", "--listen", &format!("0.0.0.0:{port}")]),
        "SERVING\n"
    );
    server.kill();
    let stderr = tessera_fails(&["health", "--endpoint", &endpoint, "--timeout-seconds", "2"]);
    assert_says(
        &stderr,
        &[&format!("cannot ask {endpoint} whether it serves")],
    );
}
