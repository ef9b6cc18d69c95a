//! The account page in a real browser, on both backends: `web/tests/journey.mjs` drives
//! Debian's chromium headless with Playwright (`playwright-core`) against the real
//! `tessera serve` binary — sign up, a mistyped and a good product key, the subscription
//! and its key, a device that activates through the API and appears on the page, a full
//! subscription, the expiry warning, automatic renewal, double coverage, a partner code,
//! removing the device after confirming, a wrong password, German and French, keyboard
//! only on a phone-sized screen. Screenshots go to `target/browser-artifacts/{backend}/`.
//! Then the removed device asks over plain gRPC whether it is protected.
//!
//! Needs `node`, `web/node_modules` (`npm ci` in `web/`) and chromium
//! (`apt-get install -y chromium`, or `CHROMIUM=/path`): without them the test fails,
//! it never skips. `.ci/run` installs them.

#[path = "support/test_db.rs"]
mod test_db;

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};
use tessera_client::{pb, with_token};
use test_db::TestDb;

const ADMIN_TOKEN: &str = "browser-test-admin-token";

/// One browser at a time: two would share the machine's cores and slow each other down.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_journey_passes_in_chromium_on_sqlite() {
    journey(TestDb::sqlite(), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn the_account_page_journey_passes_in_chromium_on_postgres() {
    journey(TestDb::postgres().await, "postgres").await;
}

async fn journey(db: TestDb, backend: &str) {
    let _one_browser = ONE_BROWSER.lock().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let web = root.join("web");
    let chromium = prerequisites(&web);
    let artifacts = root.join("target/browser-artifacts").join(backend);
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("the artifacts directory can be made");

    let started = Instant::now();
    let server = ServerProcess::start(&db.url(), &artifacts.join("server.log"));
    let output = Command::new("node")
        .arg("tests/journey.mjs")
        .current_dir(&web)
        .env("TESSERA_URL", &server.url)
        .env("TESSERA_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("CHROMIUM", &chromium)
        .env("ARTIFACTS", &artifacts)
        .output()
        .expect("node runs the journey");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the browser journey failed on {backend} ({}); screenshots and the server's log are in {}",
        output.status,
        artifacts.display()
    );
    let result: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("RESULT "))
        .map(|json| serde_json::from_str(json).expect("the result is JSON"))
        .expect("the journey reports its result");

    // The device removed on the page, asking over gRPC rather than gRPC-Web.
    let token = result["deviceToken"].as_str().expect("a device token");
    let channel = tessera_client::connect(server.url.clone()).await.unwrap();
    let told = pb::seat_service_client::SeatServiceClient::new(channel)
        .check_protection(with_token(token, pb::CheckProtectionRequest {}))
        .await
        .expect("the removed device may still ask")
        .into_inner();
    assert!(!told.protected);
    assert_eq!(told.warnings[0].kind, pb::WarningKind::SeatRemoved as i32);
    println!(
        "browser journey on {backend}: {:.1} s with the server's start",
        elapsed.as_secs_f64()
    );
}

/// Node, the npm packages and chromium, or a failure saying how to get them.
fn prerequisites(web: &Path) -> PathBuf {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|out| out.status.success()),
        "the browser test needs Node.js (`node` on the PATH); `bash .ci/run` sets up everything"
    );
    // The test command is all a fresh machine needs: what is missing is installed here,
    // exactly as `web/package-lock.json` pins it, and a failure to do so fails the test.
    if !web.join("node_modules/playwright-core").is_dir() {
        install(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(web),
            "the page's npm packages (`npm ci` in web/)",
        );
    }
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.is_file() && std::env::var_os("CHROMIUM").is_none() {
        install(
            Command::new("apt-get").args(["install", "-y", "chromium"]),
            "Debian's chromium (`apt-get install -y chromium`, as root)",
        );
    }
    assert!(
        chromium.is_file(),
        "the browser test needs chromium at {}: `apt-get install -y chromium`, or set CHROMIUM",
        chromium.display()
    );
    chromium
}

/// Runs an install step for the browser test, failing the test when it fails.
fn install(command: &mut Command, what: &str) {
    eprintln!("installing {what} for the browser test");
    let status = command.status();
    assert!(
        status.as_ref().is_ok_and(|status| status.success()),
        "could not install {what} ({status:?}); `bash .ci/run` sets up everything"
    );
}

/// `tessera serve` as a child process on a free port, its log written to a file.
struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    fn start(database_url: &str, log: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(["--database-url", database_url, "--admin-token", ADMIN_TOKEN])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut log = std::fs::File::create(log).expect("the server log can be written");
        let (address_sender, address) = mpsc::channel();
        // Copies the log to the file, and hands over the address once announced.
        std::thread::spawn(move || {
            let mut announced = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                if !announced && let Some(found) = announced_address(&line) {
                    announced = address_sender.send(found).is_ok();
                }
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(60))
            .expect("the server announces its address");
        Self {
            child,
            url: format!("http://{address}"),
        }
    }
}

fn announced_address(line: &str) -> Option<String> {
    let start = line.find("\"address\":\"")? + "\"address\":\"".len();
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_owned())
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
