//! Operating Tessera from the command line, as an operator does: the `tessera` binary
//! run as a process, its exit status and what it prints. Start-up errors that say what
//! to do, secrets from files and the key fingerprint, `keys issue` that never loses a
//! key, the support look-ups, backups and the health probe.

mod backup;
mod errors;
mod keys;
mod secrets;
mod support_cli;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
};

/// A fresh directory in the temporary directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(purpose: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tessera-{purpose}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// An `sqlite:` URL for a file in the directory.
    pub fn sqlite_url(&self, name: &str) -> String {
        format!("sqlite:{}", self.path(name).display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `tessera` with none of the caller's `TESSERA_*` settings, so that only `args` count.
pub fn tessera_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TESSERA_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG").args(args);
    command
}

/// Runs `tessera <args>` to its end.
pub fn tessera(args: &[&str]) -> Output {
    tessera_command(args).output().expect("the binary runs")
}

/// Runs `tessera <args>`, which must succeed, and returns its standard output.
#[track_caller]
pub fn tessera_ok(args: &[&str]) -> String {
    let output = tessera(args);
    assert!(
        output.status.success(),
        "tessera {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `tessera <args>`, which must fail with status 1, and returns its standard error.
#[track_caller]
pub fn tessera_fails(args: &[&str]) -> String {
    let output = tessera(args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "tessera {args:?} did not fail as it should: {output:?}"
    );
    String::from_utf8(output.stderr).unwrap()
}

/// Asserts that `text` contains every one of `parts`.
#[track_caller]
pub fn assert_says(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is not in:\n{text}");
    }
}

/// How many rows `table` has, read straight from the database.
pub async fn count_rows(database_url: &str, table: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database_url).await.unwrap();
    let count: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    count
}

/// Writes `contents` into a new file in `dir`, readable by its owner only.
pub fn secret_file(dir: &Scratch, name: &str, contents: &str) -> PathBuf {
    let path = dir.path(name);
    std::fs::write(&path, contents).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

/// The server binary running as a child process, killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub address: String,
}

impl ServerProcess {
    /// Starts `tessera serve` on a free port with `args` and waits for the line that says
    /// it listens.
    pub fn start(args: &[&str]) -> Self {
        let mut child = tessera_command(&["serve", "--listen", "127.0.0.1:0"])
            .args(["--log-format", "json"])
            .args(args)
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
        Self { child, address }
    }

    /// Stops it with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The file's permission bits.
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
