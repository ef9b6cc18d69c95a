//! The reads, under h2load: the empty RPC every ratio is stated against, then three
//! reads a customer's app makes. Each is verified three ways, since h2load counts a
//! gRPC error (HTTP 200, the code in trailers) as a success:
//!
//! 1. before the run, tonic sends the same message bytes once: the answer must be OK
//!    and what the caller expects (a protected device, the asked-for subscription);
//! 2. after it, every `rpc done` line the server logged for the method must say `Ok`,
//!    and there must be at least as many as h2load counted answers (the server logs
//!    each call before answering it; a marker call made after the run shows that
//!    every line has been read). The one exception: when its time is up h2load drops
//!    the calls in flight, whose request bodies the server then fails to read
//!    (`Unknown`); at most one per stream, and h2load counts none of them;
//! 3. the DATA bytes h2load received must be about what that many answers of the size
//!    seen in 1. make (an error answers with trailers only, no message).

use crate::{
    h2load::{self, H2load},
    ids::Seed,
    server::Server,
    wire,
};
use anyhow::{Context as _, Result, bail, ensure};
use prost::Message;
use std::{path::Path, time::Duration};
use tessera_client::{
    pb,
    tonic::{Code, transport::Channel},
};

/// A call no measurement makes, answered (with UNAUTHENTICATED) after a run to show
/// that the server's log has been read up to the end of the run.
const MARKER: &str = "/tessera.v1.AccountService/GetAccount";
/// How long the log may lag behind.
const LOG_LAG: Duration = Duration::from_secs(60);
/// The share of the expected DATA bytes below which calls must have failed.
const DATA_TOLERANCE: f64 = 0.9;

/// Checks the answer to the tonic call.
type Expect = Box<dyn Fn(&[u8]) -> Result<()> + Send + Sync>;

/// One read h2load sends.
struct Read {
    label: &'static str,
    path: &'static str,
    body: Vec<u8>,
    token: Option<String>,
    expect: Expect,
}

/// What one read measured.
#[derive(Debug, Clone)]
pub struct ReadRow {
    /// The method.
    pub label: &'static str,
    /// What h2load reported.
    pub outcome: h2load::Outcome,
    /// The server's `rpc done` lines for it: OK, failed.
    pub logged: (u64, u64),
    /// The codes of the failed ones, and how often.
    pub failures: Vec<(String, u64)>,
    /// Size of one answer's gRPC frame, from the tonic call.
    pub answer_bytes: u64,
}

fn reads(seed: &Seed, subscription: u64) -> Vec<Read> {
    let subscription_name = format!("subscriptions/{}", seed.subscription_id(subscription));
    let expected_name = subscription_name.clone();
    vec![
        Read {
            label: "Health/Check",
            path: "/grpc.health.v1.Health/Check",
            body: wire::frame(&()),
            token: None,
            // HealthCheckResponse { status: SERVING }.
            expect: Box::new(|answer| {
                ensure!(answer == [0x08, 0x01], "not SERVING: {answer:?}");
                Ok(())
            }),
        },
        Read {
            label: "ListPlans",
            path: "/tessera.v1.SubscriptionService/ListPlans",
            body: wire::frame(&pb::ListPlansRequest {}),
            token: None,
            expect: Box::new(|answer| {
                let plans = pb::ListPlansResponse::decode(answer)?.plans;
                ensure!(!plans.is_empty(), "no plans");
                Ok(())
            }),
        },
        Read {
            label: "GetSubscription",
            path: "/tessera.v1.SubscriptionService/GetSubscription",
            body: wire::frame(&pb::GetSubscriptionRequest {
                name: subscription_name,
            }),
            token: Some(seed.session_token(subscription)),
            expect: Box::new(move |answer| {
                let name = pb::Subscription::decode(answer)?.name;
                ensure!(name == expected_name, "got {name}");
                Ok(())
            }),
        },
        Read {
            label: "CheckProtection",
            path: "/tessera.v1.SeatService/CheckProtection",
            body: wire::frame(&pb::CheckProtectionRequest {}),
            token: Some(seed.device_token(subscription, 0)),
            expect: Box::new(|answer| {
                let answer = pb::CheckProtectionResponse::decode(answer)?;
                ensure!(answer.protected, "the device is not protected");
                Ok(())
            }),
        },
    ]
}

/// Runs the four reads with the session and a device of seeded `subscription`,
/// writing the request bodies into `dir`.
pub async fn measure(
    server: &Server,
    channel: &Channel,
    h2load: &H2load,
    seed: &Seed,
    subscription: u64,
    dir: &Path,
) -> Result<Vec<ReadRow>> {
    let mut rows = Vec::new();
    for read in reads(seed, subscription) {
        let row = measure_one(server, channel, h2load, &read, dir)
            .await
            .with_context(|| format!("measuring {}", read.label))?;
        rows.push(row);
    }
    Ok(rows)
}

async fn measure_one(
    server: &Server,
    channel: &Channel,
    h2load: &H2load,
    read: &Read,
    dir: &Path,
) -> Result<ReadRow> {
    let body_path = dir.join(format!("{}.bin", read.label.replace('/', "-")));
    std::fs::write(&body_path, &read.body)?;
    let answer = wire::call(channel, read.path, read.token.as_deref(), &read.body)
        .await
        .with_context(|| format!("the body h2load would send to {} fails", read.path))?;
    (read.expect)(&answer)
        .with_context(|| format!("the answer of {} is not what it should be", read.path))?;

    server.rpcs().clear();
    let (address, path, token) = (server.address(), read.path, read.token.clone());
    let streams = u64::from(h2load.connections * h2load.streams);
    let h2load = h2load.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        h2load.run(address, path, &body_path, token.as_deref())
    })
    .await??;

    match wire::call(channel, MARKER, None, &wire::frame(&())).await {
        Err(status) if status.code() == Code::Unauthenticated => {}
        other => bail!("the marker call {MARKER} answered {other:?}, not UNAUTHENTICATED"),
    }
    if server.rpcs().wait_for(MARKER, LOG_LAG).await.is_none() {
        bail!("the server's log did not show the marker call within {LOG_LAG:?}");
    }
    let codes = server.rpcs().get(read.path);

    let row = ReadRow {
        label: read.label,
        outcome,
        logged: (codes.ok, codes.failed),
        failures: server.rpcs().failures(read.path),
        answer_bytes: answer.len() as u64 + 5,
    };
    verify(&row, streams)?;
    Ok(row)
}

/// Fails unless every call h2load counted was answered, with HTTP 200 and gRPC OK.
fn verify(row: &ReadRow, streams: u64) -> Result<()> {
    let o = &row.outcome;
    ensure!(o.done > 0, "h2load got no answer");
    ensure!(
        o.failed == 0 && o.errored == 0 && o.timeout == 0 && o.status_4xx_5xx == 0,
        "h2load saw failures: {o:?}"
    );
    let (ok, failed) = row.logged;
    let dropped_by_h2load = row.failures.iter().all(|(code, _)| code == "Unknown");
    ensure!(
        failed == 0 || (dropped_by_h2load && failed <= streams),
        "the server answered {failed} calls with an error: {:?}",
        row.failures
    );
    ensure!(
        ok >= o.done,
        "the server logged {ok} OK answers, fewer than the {} h2load counted",
        o.done
    );
    let expected = (o.done * row.answer_bytes) as f64;
    ensure!(
        o.data_bytes as f64 >= DATA_TOLERANCE * expected,
        "h2load received {} DATA bytes, less than {DATA_TOLERANCE} of the {expected} that {} \
         answers of {} bytes make: some calls failed",
        o.data_bytes,
        o.done,
        row.answer_bytes
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(outcome: h2load::Outcome, logged: (u64, u64), failures: &[(&str, u64)]) -> ReadRow {
        ReadRow {
            label: "GetSubscription",
            outcome,
            logged,
            failures: failures
                .iter()
                .map(|(code, n)| ((*code).to_owned(), *n))
                .collect(),
            answer_bytes: 100,
        }
    }

    fn clean() -> h2load::Outcome {
        h2load::Outcome {
            req_per_s: 1000.0,
            done: 1000,
            succeeded: 1000,
            data_bytes: 100_000,
            ..Default::default()
        }
    }

    #[test]
    fn only_calls_answered_ok_pass() {
        let streams = 64;
        assert!(verify(&row(clean(), (1010, 0), &[]), streams).is_ok());
        let dropped = [("Unknown", 40)];
        assert!(verify(&row(clean(), (1010, 40), &dropped), streams).is_ok());
        let too_many = [("Unknown", 65)];
        assert!(verify(&row(clean(), (1010, 65), &too_many), streams).is_err());
        let errors = [("Unknown", 1), ("Unauthenticated", 2)];
        assert!(verify(&row(clean(), (1010, 3), &errors), streams).is_err());
        assert!(
            verify(&row(clean(), (900, 0), &[]), streams).is_err(),
            "answers missing"
        );
        let errors_in_trailers = h2load::Outcome {
            data_bytes: 50_000,
            ..clean()
        };
        let row_without_messages = row(errors_in_trailers, (1010, 0), &[]);
        assert!(
            verify(&row_without_messages, streams).is_err(),
            "bytes tell"
        );
        let reset = h2load::Outcome {
            errored: 1,
            ..clean()
        };
        assert!(verify(&row(reset, (1010, 0), &[]), streams).is_err());
    }

    #[test]
    fn every_read_expects_a_real_answer() {
        let seed = Seed::random();
        let reads = reads(&seed, 3);
        assert_eq!(reads.len(), 4);
        assert!((reads[0].expect)(&[0x08, 0x01]).is_ok());
        assert!((reads[0].expect)(&[0x08, 0x02]).is_err());
        let protected = pb::CheckProtectionResponse {
            protected: true,
            ..Default::default()
        };
        assert!((reads[3].expect)(&protected.encode_to_vec()).is_ok());
        assert!((reads[3].expect)(&[]).is_err());
        let subscription = pb::Subscription {
            name: format!("subscriptions/{}", seed.subscription_id(3)),
            ..Default::default()
        };
        assert!((reads[2].expect)(&subscription.encode_to_vec()).is_ok());
        assert!((reads[2].expect)(&pb::Subscription::default().encode_to_vec()).is_err());
        for read in &reads {
            assert!(wire::unframe(&read.body).is_some());
        }
    }
}
