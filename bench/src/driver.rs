//! The write and latency load generator: tonic callers over several HTTP/2 connections,
//! each caller sending its next call as soon as the last one is answered, for a fixed
//! time. Every call's latency is kept (a few hundred thousand at most), failed ones are
//! counted and the first failure kept for the report.

use crate::stats::Latencies;
use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tessera_client::tonic::{Status, transport::Channel};

/// How hard and how long.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Callers, spread over the channels.
    pub concurrency: usize,
    /// How long they call, after the warm-up.
    pub duration: Duration,
    /// How long they call before the measurement (answers not counted).
    pub warm_up: Duration,
}

/// One measurement.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Calls answered OK during the measurement.
    pub ok: u64,
    /// Calls that failed during the measurement.
    pub failed: u64,
    /// The first failure, for the report.
    pub first_failure: Option<String>,
    /// From the end of the warm-up until the last caller finished.
    pub wall: Duration,
    /// Latencies of the calls answered OK.
    pub latencies: Latencies,
}

impl Measured {
    /// Calls answered OK per second.
    pub fn per_second(&self) -> f64 {
        if self.wall.is_zero() {
            return 0.0;
        }
        self.ok as f64 / self.wall.as_secs_f64()
    }
}

/// What one caller saw.
#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    first_failure: Option<String>,
    latencies: Vec<Duration>,
}

/// Calls `call(channel, n)` with `load.concurrency` callers, caller `c` on channel
/// `c % channels.len()`, `n` counting calls from 0 across callers.
pub async fn drive<F, Fut>(channels: &[Channel], load: Load, call: F) -> Measured
where
    F: Fn(Channel, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Status>> + Send + 'static,
{
    assert!(!channels.is_empty(), "the driver needs a channel");
    let call = Arc::new(call);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let measure_from = started + load.warm_up;
    let stop_at = measure_from + load.duration;
    let callers: Vec<_> = (0..load.concurrency)
        .map(|c| {
            let channel = channels[c % channels.len()].clone();
            let (call, next) = (Arc::clone(&call), Arc::clone(&next));
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let sent = Instant::now();
                    if sent >= stop_at {
                        return tally;
                    }
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let result = call(channel.clone(), n).await;
                    if sent < measure_from {
                        continue;
                    }
                    match result {
                        Ok(()) => {
                            tally.ok += 1;
                            tally.latencies.push(sent.elapsed());
                        }
                        Err(status) => {
                            tally.failed += 1;
                            tally.first_failure.get_or_insert_with(|| {
                                format!("{:?}: {}", status.code(), status.message())
                            });
                        }
                    }
                }
            })
        })
        .collect();
    let mut total = Tally::default();
    for caller in callers {
        let tally = caller.await.expect("a caller panicked");
        total.ok += tally.ok;
        total.failed += tally.failed;
        total.first_failure = total.first_failure.or(tally.first_failure);
        total.latencies.extend(tally.latencies);
    }
    Measured {
        ok: total.ok,
        failed: total.failed,
        first_failure: total.first_failure,
        wall: measure_from.elapsed(),
        latencies: Latencies::new(total.latencies),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_are_counted_timed_and_failures_kept() {
        let channel = tessera_client::tonic::transport::Endpoint::from_static("http://127.0.0.1:9")
            .connect_lazy();
        let load = Load {
            concurrency: 4,
            duration: Duration::from_millis(100),
            warm_up: Duration::from_millis(20),
        };
        let measured = drive(&[channel], load, |_, n| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if n % 2 == 0 {
                Ok(())
            } else {
                Err(Status::unavailable("odd"))
            }
        })
        .await;
        assert!(measured.ok > 10, "{measured:?}");
        assert!(measured.failed > 10, "{measured:?}");
        assert_eq!(measured.latencies.len() as u64, measured.ok);
        assert!(measured.latencies.percentile(0.5) >= Duration::from_millis(5));
        assert_eq!(measured.first_failure.as_deref(), Some("Unavailable: odd"));
        assert!(measured.wall >= Duration::from_millis(100));
        assert!(measured.per_second() > 0.0);
    }
}
