//! What the database guarantees by itself: acknowledged writes survive `kill -9`, and
//! the seat limit holds even against a write that bypasses the server.

use crate::support::{ADMIN_TOKEN, Db, PASSWORD, activation, email, on_both_backends, spawn_app};
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};
use tessera_client::{pb, with_token};

on_both_backends!(the_database_refuses_more_active_seats_than_the_limit);

async fn the_database_refuses_more_active_seats_than_the_limit(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "standard-1").await;
    let seat = app
        .activate(&token, &subscription.name, "pc")
        .await
        .unwrap()
        .seat
        .unwrap();
    let id = subscription
        .name
        .trim_start_matches("subscriptions/")
        .to_owned();

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    // PostgreSQL keeps ids as uuid, SQLite as text.
    let id_param = match db {
        Db::Sqlite => "$1",
        Db::Postgres => "CAST($1 AS uuid)",
    };
    let over_limit = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE subscriptions SET active_seats = seat_limit + 1 WHERE id = {id_param}"
    )))
    .bind(id.clone())
    .execute(&pool)
    .await;
    assert!(
        over_limit.is_err(),
        "the check constraint let the count pass the limit"
    );
    let insert = match db {
        Db::Sqlite => "VALUES ($1, $2, 'pc', 'WINDOWS', 'PC again', 0, 0)",
        Db::Postgres => {
            "VALUES (CAST($1 AS uuid), CAST($2 AS uuid), 'pc', 'WINDOWS', 'PC again', now(), now())"
        }
    };
    let second_seat_for_device = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO seats (id, subscription_id, device_id, platform, display_name, \
         activated_at, last_seen_at) {insert}"
    )))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(id)
    .execute(&pool)
    .await;
    assert!(
        second_seat_for_device.is_err(),
        "a device took two active seats"
    );
    pool.close().await;
    assert!(seat.name.starts_with(&subscription.name));
    app.stop().await;
}

/// A fresh directory with an SQLite database URL inside, for one server process.
fn scratch_database(purpose: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!(
        "tessera-{purpose}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("tessera.db").display());
    (dir, url)
}

/// The server binary running as a child process.
struct ServerProcess {
    child: Child,
    endpoint: String,
}

impl ServerProcess {
    /// Starts `tessera serve` and waits for the line that says it listens.
    fn start(database_url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(["--database-url", database_url, "--admin-token", ADMIN_TOKEN])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let address = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                let start = line.find("\"address\":\"")? + "\"address\":\"".len();
                let end = line[start..].find('"')? + start;
                Some(line[start..end].to_owned())
            })
            .expect("the server announces its address");
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            endpoint: format!("http://{address}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_activation_survives_kill_9() {
    let (dir, url) = scratch_database("kill9");
    let address = email();

    let mut server = ServerProcess::start(&url);
    let channel = tessera_client::connect(server.endpoint.clone())
        .await
        .unwrap();
    let mut accounts = pb::account_service_client::AccountServiceClient::new(channel.clone());
    let account = accounts
        .create_account(pb::CreateAccountRequest {
            email: address.clone(),
            password: PASSWORD.into(),
            display_name: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let token = accounts
        .sign_in(pb::SignInRequest {
            email: address.clone(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .session_token;
    let subscription =
        pb::subscription_service_client::SubscriptionServiceClient::new(channel.clone())
            .create_subscription(with_token(
                ADMIN_TOKEN,
                pb::CreateSubscriptionRequest {
                    parent: account.name,
                    plan: "deluxe-3".into(),
                    auto_renew: true,
                    request_id: "r".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
    let activated = pb::seat_service_client::SeatServiceClient::new(channel)
        .activate_seat(with_token(&token, activation(&subscription.name, "pc")))
        .await
        .unwrap()
        .into_inner();

    server.child.kill().expect("SIGKILL delivered");
    server.child.wait().unwrap();

    let mut restarted = ServerProcess::start(&url);
    let channel = tessera_client::connect(restarted.endpoint.clone())
        .await
        .unwrap();
    let check = pb::seat_service_client::SeatServiceClient::new(channel)
        .check_protection(with_token(
            &activated.device_token,
            pb::CheckProtectionRequest {},
        ))
        .await
        .expect("the device token survived the crash")
        .into_inner();
    assert!(check.protected);
    assert_eq!(check.seat.unwrap().name, activated.seat.unwrap().name);
    assert_eq!(check.subscription.unwrap().active_seat_count, 1);
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_cleanly() {
    let (dir, url) = scratch_database("term");
    let mut server = ServerProcess::start(&url);
    let channel = tessera_client::connect(server.endpoint.clone())
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "tessera.v1.SeatService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let terminated = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs `tessera <args>` against `database_url` and returns its standard output.
fn tessera(database_url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["--database-url", database_url])
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "tessera {args:?} failed: {output:?}"
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_manage_partners_keys_and_product_keys_from_the_command_line() {
    let (dir, url) = scratch_database("cli");
    let mut server = ServerProcess::start(&url);
    let channel = tessera_client::connect(server.endpoint.clone())
        .await
        .unwrap();

    let created = tessera(&url, &["partner", "create", "Telekom"]);
    assert!(created.starts_with("partners/"), "{created}");
    let key_output = tessera(&url, &["partner", "key", "create", "Telekom"]);
    let mut lines = key_output.lines();
    let key_name = lines.next().unwrap().to_owned();
    let api_key = lines.next().unwrap().to_owned();
    let carrier = tessera_client::CarrierClient::from_channel(channel.clone(), &api_key).unwrap();
    let provisioned = carrier
        .provision("contract-cli", "plans/deluxe-3", None)
        .await
        .unwrap();
    assert!(provisioned.subscription.is_some());

    tessera(&url, &["partner", "key", "revoke", &key_name]);
    // The server keeps verified keys in memory for at most a second; no notice reaches
    // it from another process.
    let revoked_at = std::time::Instant::now();
    let refused = loop {
        match carrier.list(None, 10, "").await {
            Err(status) => break status,
            Ok(_) => assert!(
                revoked_at.elapsed() < std::time::Duration::from_secs(1),
                "the revoked key still worked after a second"
            ),
        }
    };
    assert_eq!(refused.code(), tessera_client::tonic::Code::Unauthenticated);

    let csv = dir.join("keys.csv");
    tessera(
        &url,
        &[
            "keys",
            "issue",
            "--plan",
            "deluxe-5",
            "--count",
            "3",
            "--batch",
            "Q4, cards",
            "--out",
            &csv.display().to_string(),
        ],
    );
    let written = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = written.lines().collect();
    assert_eq!(rows[0], "product_key,plan,kind,batch");
    assert_eq!(rows.len(), 4);
    let key = rows[1].split(',').next().unwrap();

    let address = email();
    let mut accounts = pb::account_service_client::AccountServiceClient::new(channel.clone());
    accounts
        .create_account(pb::CreateAccountRequest {
            email: address.clone(),
            password: PASSWORD.into(),
            display_name: String::new(),
        })
        .await
        .unwrap();
    let token = accounts
        .sign_in(pb::SignInRequest {
            email: address,
            password: PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .session_token;
    let redeemed = pb::product_key_service_client::ProductKeyServiceClient::new(channel)
        .redeem_product_key(with_token(
            &token,
            pb::RedeemProductKeyRequest {
                product_key: key.into(),
                subscription: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(redeemed.seat_limit, 5);
    assert_eq!(redeemed.product_key, key);

    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
