//! The server's JSON log, read as it is written. Every RPC ends with an `rpc done` line
//! (`src/api/trace.rs`) carrying the method and the gRPC code it answered with, which
//! h2load cannot see (a gRPC error is still HTTP 200; the code travels in trailers).
//! Those lines are only counted — at tens of thousands a second, keeping them would cost
//! the disk the database needs — and the rest are kept in the log file.

use std::{
    collections::HashMap,
    fs::File,
    io::{BufRead, BufReader, Read, Write},
    net::SocketAddr,
    path::Path,
    sync::Mutex,
    time::Duration,
};
use tokio::sync::{Notify, oneshot};

/// Answers of one method, by gRPC code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Codes {
    /// `OK`.
    pub ok: u64,
    /// Any other code.
    pub failed: u64,
}

/// The `rpc done` lines seen, by method, and the codes other than `Ok`.
#[derive(Debug, Default)]
pub struct RpcCounts {
    counts: Mutex<HashMap<String, Codes>>,
    failures: Mutex<HashMap<(String, String), u64>>,
    seen: Notify,
}

impl RpcCounts {
    fn record(&self, method: &str, code: &str) {
        let ok = code == "Ok";
        {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            let codes = match counts.get_mut(method) {
                Some(codes) => codes,
                None => counts.entry(method.to_owned()).or_default(),
            };
            if ok {
                codes.ok += 1;
            } else {
                codes.failed += 1;
            }
        }
        if !ok {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            *failures
                .entry((method.to_owned(), code.to_owned()))
                .or_default() += 1;
        }
        self.seen.notify_waiters();
    }

    /// Forgets every count.
    pub fn clear(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The codes other than `Ok` that `method` answered with, and how often.
    pub fn failures(&self, method: &str) -> Vec<(String, u64)> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<(String, u64)> = failures
            .iter()
            .filter(|((m, _), _)| m == method)
            .map(|((_, code), n)| (code.clone(), *n))
            .collect();
        found.sort();
        found
    }

    /// The answers of `method` (its path, `/package.Service/Method`) so far.
    pub fn get(&self, method: &str) -> Codes {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(method)
            .copied()
            .unwrap_or_default()
    }

    /// Waits until `method` has answered at least once, for at most `limit`. The lines
    /// arrive in the order the server wrote them, so once the answer to a call made
    /// after a measurement is counted, so is every answer of the measurement.
    pub async fn wait_for(&self, method: &str, limit: Duration) -> Option<Codes> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let seen = self.seen.notified();
            tokio::pin!(seen);
            seen.as_mut().enable();
            let codes = self.get(method);
            if codes.ok + codes.failed > 0 {
                return Some(codes);
            }
            if tokio::time::timeout_at(deadline, seen).await.is_err() {
                return None;
            }
        }
    }
}

const RPC_DONE: &str = "\"message\":\"rpc done\"";
const LISTENING: &str = "\"message\":\"tessera listening\"";

/// The string value of `"key":"…"` in a JSON line (values here hold no quotes).
fn string_field<'a>(line: &'a str, quoted_key: &str) -> Option<&'a str> {
    let start = line.find(quoted_key)? + quoted_key.len();
    let rest = line[start..].strip_prefix(":\"")?;
    rest.find('"').map(|end| &rest[..end])
}

/// The method and the gRPC code (`Ok`, `NotFound`, …) of an `rpc done` line.
pub fn rpc_done(line: &str) -> Option<(&str, &str)> {
    if !line.contains(RPC_DONE) {
        return None;
    }
    let method = string_field(line, "\"method\"")?;
    let code = string_field(line, "\"code\"")?;
    Some((method, code))
}

/// The address of the `tessera listening` line.
pub fn listening_address(line: &str) -> Option<SocketAddr> {
    if !line.contains(LISTENING) {
        return None;
    }
    string_field(line, "\"address\"")?.parse().ok()
}

/// Reads the server's standard output until it closes: counts `rpc done` lines, sends
/// the listening address once, and writes every other line to `log`.
pub fn read(
    stdout: impl Read,
    mut log: File,
    rpcs: &RpcCounts,
    address: oneshot::Sender<SocketAddr>,
) {
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut address = Some(address);
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        match reader.read_until(b'\n', &mut bytes) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&bytes);
        if let Some((method, code)) = rpc_done(&line) {
            rpcs.record(method, code);
            continue;
        }
        if let Some(listening) = listening_address(&line)
            && let Some(sender) = address.take()
        {
            let _ = sender.send(listening);
        }
        // A full disk must not stop the reader: the server would block on its output.
        let _ = log.write_all(&bytes);
    }
}

/// The last `lines` lines of the log at `path`, for an error message.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DONE: &str = r#"{"timestamp":"2026-12-01T17:26:33.465399Z","level":"INFO","fields":{"message":"rpc done","elapsed_us":2},"target":"tessera::api::trace","span":{"code":"Ok","method":"/grpc.health.v1.Health/Check","name":"rpc"},"spans":[{"code":"Ok","method":"/grpc.health.v1.Health/Check","name":"rpc"}]}"#;
    const FAILED: &str = r#"{"timestamp":"2026-12-01T17:26:33.4Z","level":"INFO","fields":{"message":"rpc done","elapsed_us":31},"target":"tessera::api::trace","span":{"code":"Unauthenticated","method":"/tessera.v1.SeatService/CheckProtection","name":"rpc","principal":"device"}}"#;
    const LISTEN: &str = r#"{"timestamp":"2026-12-01T17:26:32.400853Z","level":"INFO","fields":{"message":"tessera listening","address":"127.0.0.1:34157"},"target":"tessera"}"#;

    #[test]
    fn rpc_lines_give_their_method_and_code() {
        assert_eq!(rpc_done(DONE), Some(("/grpc.health.v1.Health/Check", "Ok")));
        assert_eq!(
            rpc_done(FAILED),
            Some(("/tessera.v1.SeatService/CheckProtection", "Unauthenticated"))
        );
        assert_eq!(rpc_done(LISTEN), None);
        assert_eq!(
            listening_address(LISTEN),
            Some("127.0.0.1:34157".parse().unwrap())
        );
        assert_eq!(listening_address(DONE), None);
    }

    #[tokio::test]
    async fn the_reader_counts_rpcs_keeps_the_rest_and_hands_over_the_address() {
        let path = std::env::temp_dir().join(format!("tessera-bench-log-{}", uuid::Uuid::new_v4()));
        let log = File::create(&path).unwrap();
        let output = format!("{LISTEN}\n{DONE}\n{DONE}\n{FAILED}\nnot json at all\n");
        let rpcs = RpcCounts::default();
        let (sender, address) = oneshot::channel();
        read(output.as_bytes(), log, &rpcs, sender);
        assert_eq!(address.await.unwrap().port(), 34157);
        assert_eq!(
            rpcs.get("/grpc.health.v1.Health/Check"),
            Codes { ok: 2, failed: 0 }
        );
        let check = "/tessera.v1.SeatService/CheckProtection";
        assert_eq!(
            rpcs.wait_for(check, Duration::from_millis(10)).await,
            Some(Codes { ok: 0, failed: 1 })
        );
        assert_eq!(rpcs.failures(check), [("Unauthenticated".to_owned(), 1)]);
        assert_eq!(
            rpcs.wait_for("/nope", Duration::from_millis(10)).await,
            None
        );
        assert_eq!(tail(&path, 5), format!("{LISTEN}\nnot json at all"));
        rpcs.clear();
        assert_eq!(rpcs.get(check), Codes::default());
        std::fs::remove_file(&path).unwrap();
    }
}
