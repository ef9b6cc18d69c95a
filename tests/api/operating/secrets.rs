//! Secrets from files, and the fingerprint of the secret key kept in the database: a
//! server or a command started with another key, or without the key the database was
//! initialised with, refuses to run rather than answer NOT_FOUND to every unredeemed
//! partner code and product key.

use super::{Scratch, assert_says, count_rows, secret_file, tessera_fails, tessera_ok};
use crate::support::{Db, email, on_both_backends, spawn_app_with};
use tessera::{Application, Settings};

const KEY: &str = "the production secret key, 32 characters or more";

on_both_backends!(
    a_server_started_with_another_secret_key_refuses_to_run,
    a_command_without_the_servers_key_refuses_to_issue_keys_the_server_would_not_know,
    the_admin_token_and_the_secret_key_can_come_from_files,
);

/// Settings for another server on `database_url`.
fn another_server(database_url: &str) -> Settings {
    let mut settings = Settings::for_database(database_url);
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.lifecycle_interval_seconds = 0;
    settings.housekeeping_interval_minutes = 0;
    settings
}

async fn refusal(settings: &Settings) -> String {
    Application::build(settings)
        .await
        .err()
        .expect("the server refuses to start")
        .to_string()
}

async fn a_server_started_with_another_secret_key_refuses_to_run(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| settings.secret_key = Some(KEY.into())).await
    else {
        return;
    };
    let mut other = another_server(&app.database_url);
    other.secret_key = Some("another key".into());
    assert_says(
        &refusal(&other).await,
        &[
            "the secret key given (fingerprint ",
            "is not the one this database's partner codes and product keys are hashed under",
            "given at start-up",
            "start with that key",
        ],
    );
    other.secret_key = None;
    assert_says(
        &refusal(&other).await,
        &[
            "none was given",
            "--secret-key-file or TESSERA_SECRET_KEY_FILE",
        ],
    );

    // The same key from a file (with its final newline) is the same key.
    let dir = Scratch::new("same-key");
    other.secret_key_file = Some(secret_file(&dir, "secret-key", &format!("{KEY}\n")));
    let same = Application::build(&other)
        .await
        .expect("the same key, from a file, is accepted");
    drop(same);
    app.stop().await;
}

async fn a_command_without_the_servers_key_refuses_to_issue_keys_the_server_would_not_know(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| settings.secret_key = Some(KEY.into())).await
    else {
        return;
    };
    let dir = Scratch::new("cli-key");
    let out = dir.path("keys.csv");
    let issue = |extra: &[&str]| {
        let mut args = vec![
            "keys",
            "issue",
            "--database-url",
            &app.database_url,
            "--plan",
            "standard-1",
            "--count",
            "1",
            "--batch",
            "b",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let args = issue(&[]);
    let stderr = tessera_fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_says(&stderr, &["none was given", "--secret-key-file"]);
    assert!(!out.exists(), "no keys were written");
    assert_eq!(count_rows(&app.database_url, "product_keys").await, 0);

    let key_file = secret_file(&dir, "secret-key", &format!("{KEY}\n"));
    let args = issue(&["--secret-key-file", key_file.to_str().unwrap()]);
    tessera_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let csv = std::fs::read_to_string(&out).unwrap();
    let key = csv.lines().nth(1).unwrap().split(',').next().unwrap();
    let (_, token) = app.sign_up(&email()).await;
    app.redeem_key(&token, key, "")
        .await
        .expect("the server knows a key issued under its own secret key");
    app.stop().await;
}

async fn the_admin_token_and_the_secret_key_can_come_from_files(db: Db) {
    let dir = Scratch::new("secret-files");
    let token_file = secret_file(
        &dir,
        "admin-token",
        &format!("{}\n", crate::support::ADMIN_TOKEN),
    );
    let key_file = secret_file(&dir, "secret-key", KEY);
    let Some(app) = spawn_app_with(db, |settings| {
        settings.admin_token = None;
        settings.admin_token_file = Some(token_file.clone());
        settings.secret_key_file = Some(key_file.clone());
    })
    .await
    else {
        return;
    };
    // The admin token from the file (its newline dropped) grants admin calls.
    let partner = app.partner("Telekom").await;
    assert!(partner.name.starts_with("partners/"));
    // The key from the file was recorded as the database's key.
    let mut other = another_server(&app.database_url);
    other.secret_key = Some(KEY.into());
    drop(
        Application::build(&other)
            .await
            .expect("the file's key is the key"),
    );
    app.stop().await;
}
