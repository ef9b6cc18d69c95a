//! The read load generator: h2load (Debian package `nghttp2-client`), which on this
//! kind of machine sends far more empty RPCs than the server answers, so the server is
//! what is measured. Each run POSTs one gRPC frame from a file to one method for a fixed
//! time and reports what h2load printed.

use anyhow::{Context as _, Result, bail};
use std::{net::SocketAddr, path::Path, process::Command, time::Duration};

/// How h2load loads the server.
#[derive(Debug, Clone)]
pub struct H2load {
    /// The binary.
    pub binary: String,
    /// Connections.
    pub connections: u32,
    /// Concurrent streams per connection.
    pub streams: u32,
    /// Its threads.
    pub threads: u32,
    /// How long it measures.
    pub duration: Duration,
    /// How long it loads before measuring.
    pub warm_up: Duration,
}

/// What h2load reported.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outcome {
    /// Requests per second over the measured time.
    pub req_per_s: f64,
    /// Requests answered.
    pub done: u64,
    /// Requests answered with HTTP 2xx or 3xx (a gRPC error is HTTP 200, so this is not
    /// the count of successful calls).
    pub succeeded: u64,
    /// Requests answered with HTTP 4xx or 5xx.
    pub failed: u64,
    /// Requests that got no answer (reset streams, broken connections).
    pub errored: u64,
    /// Requests that timed out.
    pub timeout: u64,
    /// Answers with HTTP 4xx or 5xx, by the status-code line. (Its 2xx count can differ
    /// by one from `done` around the end of the run.)
    pub status_4xx_5xx: u64,
    /// Bytes of DATA frames received: the response messages. An error answers with
    /// trailers only and no message, so this tells (roughly) how many calls succeeded.
    pub data_bytes: u64,
}

impl H2load {
    /// Loads `path` on the server at `address` with the gRPC frame in `body`, sending
    /// `authorization: Bearer token` when given.
    pub fn run(
        &self,
        address: SocketAddr,
        path: &str,
        body: &Path,
        token: Option<&str>,
    ) -> Result<Outcome> {
        let mut command = Command::new(&self.binary);
        command
            .arg(format!("--clients={}", self.connections))
            .arg(format!("--max-concurrent-streams={}", self.streams))
            .arg(format!("--threads={}", self.threads))
            .arg(format!("--duration={}", self.duration.as_secs_f64()))
            .arg(format!("--warm-up-time={}", self.warm_up.as_secs_f64()))
            .arg(format!("--data={}", body.display()))
            .args(["--header", "content-type: application/grpc"])
            .args(["--header", "te: trailers"]);
        if let Some(token) = token {
            command.args(["--header", &format!("authorization: Bearer {token}")]);
        }
        let output = command
            .arg(format!("http://{address}{path}"))
            .output()
            .with_context(|| format!("running {} (apt install nghttp2-client)", self.binary))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "h2load failed with {}:\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        parse(&stdout).with_context(|| format!("reading h2load's report:\n{stdout}"))
    }
}

/// The `N word` counts of a comma-separated h2load line such as
/// `requests: 10 total, 10 started, …`.
fn counts(line: &str) -> impl Iterator<Item = (&str, u64)> {
    line.split_once(':')
        .map_or("", |(_, rest)| rest)
        .split(',')
        .filter_map(|part| {
            let mut words = part.split_whitespace();
            let n = words.next()?.parse().ok()?;
            Some((words.next()?, n))
        })
}

/// Reads h2load's report.
pub fn parse(report: &str) -> Result<Outcome> {
    let line = |prefix: &str| {
        report
            .lines()
            .find(|line| line.starts_with(prefix))
            .with_context(|| format!("no `{prefix}` line"))
    };
    // finished in 10.00s, 75000.00 req/s, 9.27MB/s
    let mut outcome = Outcome {
        req_per_s: line("finished in")?
            .split(',')
            .find_map(|part| part.trim().strip_suffix(" req/s"))
            .context("no req/s")?
            .parse()?,
        ..Outcome::default()
    };
    for (word, n) in counts(line("requests:")?) {
        match word {
            "done" => outcome.done = n,
            "succeeded" => outcome.succeeded = n,
            "failed" => outcome.failed = n,
            "errored" => outcome.errored = n,
            "timeout" => outcome.timeout = n,
            _ => {}
        }
    }
    outcome.status_4xx_5xx = counts(line("status codes:")?)
        .filter(|(word, _)| matches!(*word, "4xx" | "5xx"))
        .map(|(_, n)| n)
        .sum();
    // traffic: 742.65KB (760472) total, 58.82KB (60232) headers (…), 136.72KB (140000) data
    outcome.data_bytes = line("traffic:")?
        .split(',')
        .find(|part| part.trim_end().ends_with(" data"))
        .and_then(|part| part.split_once('(')?.1.split_once(')'))
        .context("no data bytes")?
        .0
        .parse()?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "starting benchmark...
spawning thread #0: 4 total client(s). Timing-based test with 1s of warm-up time and 10s of main duration for measurements.
Warm-up started for thread #0.
progress: 10% of clients started
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.

finished in 10.00s, 37171.40 req/s, 1.35MB/s
requests: 371714 total, 371778 started, 371714 done, 371700 succeeded, 14 failed, 0 errored, 0 timeout
status codes: 371700 2xx, 0 3xx, 14 4xx, 0 5xx
traffic: 13.52MB (14177231) total, 1.10MB (1151990) headers (space savings 95.76%), 2.48MB (2601998) data
                     min         max         mean         sd        +/- sd
time for request:       30us     12.16ms      1.62ms      1.43ms    90.32%
";

    #[test]
    fn the_report_gives_rates_counts_and_data_bytes() {
        let outcome = parse(REPORT).unwrap();
        assert_eq!(
            outcome,
            Outcome {
                req_per_s: 37171.40,
                done: 371714,
                succeeded: 371700,
                failed: 14,
                errored: 0,
                timeout: 0,
                status_4xx_5xx: 14,
                data_bytes: 2601998,
            }
        );
    }

    #[test]
    fn a_truncated_report_is_an_error() {
        assert!(parse("finished in 1.00s, 10.00 req/s, 1KB/s\n").is_err());
        assert!(parse("").is_err());
    }
}
