//! Retrying calls safely: which failures are worth another attempt, and how long to wait.

use std::{future::Future, time::Duration};

use tonic::{Code, Status};

/// How often and how patiently a call is retried after a transient failure.
///
/// Only [`Code::Unavailable`] (which includes failing to reach the server) and
/// [`Code::DeadlineExceeded`] are retried; see [`is_retryable`]. Before retry `n`
/// (counting from 0) the client sleeps a random duration between zero and
/// `min(max_backoff, initial_backoff × multiplierⁿ)` ("full jitter"), so that many
/// clients failing at once do not retry in lockstep.
///
/// ```
/// use std::time::Duration;
/// use tessera_client::RetryPolicy;
///
/// let patient = RetryPolicy { max_attempts: 8, ..RetryPolicy::default() };
/// assert_eq!(patient.max_backoff, Duration::from_secs(5));
/// assert_eq!(RetryPolicy::no_retries().max_attempts, 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total number of attempts, the first one included. Default 5; 0 counts as 1.
    pub max_attempts: u32,
    /// Upper bound of the first wait. Default 100 ms.
    pub initial_backoff: Duration,
    /// Upper bound of any single wait. Default 5 s.
    pub max_backoff: Duration,
    /// Growth of the upper bound from one retry to the next. Default 2.0.
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            multiplier: 2.0,
        }
    }
}

impl RetryPolicy {
    /// A policy that makes exactly one attempt.
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The longest wait before retry `retry` (0 for the wait after the first failure):
    /// `min(max_backoff, initial_backoff × multiplier^retry)`.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let exponent = i32::try_from(retry).unwrap_or(i32::MAX);
        let seconds = self.initial_backoff.as_secs_f64() * self.multiplier.powi(exponent);
        Duration::try_from_secs_f64(seconds)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// The wait before retry `retry`, for a uniform random `unit` in `[0, 1)`.
    fn backoff(&self, retry: u32, unit: f64) -> Duration {
        self.backoff_ceiling(retry).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Runs `call` until it succeeds, fails with a status that is not worth retrying, or
    /// `max_attempts` attempts have been made, and returns its last result.
    ///
    /// Every attempt receives the same `request_id`: that is what makes retrying a change
    /// safe, since Tessera answers a repeated id with the first response and changes
    /// nothing. The sleeps use [`tokio::time::sleep`].
    ///
    /// ```
    /// # async fn run() -> Result<(), tessera_client::tonic::Status> {
    /// use tessera_client::RetryPolicy;
    ///
    /// let echoed = RetryPolicy::default()
    ///     .run("order-42", |request_id| async move { Ok(request_id) })
    ///     .await?;
    /// assert_eq!(echoed, "order-42");
    /// # Ok(()) }
    /// ```
    pub async fn run<T, F, Fut>(&self, request_id: &str, mut call: F) -> Result<T, Status>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let attempts = self.max_attempts.max(1);
        let mut retry = 0;
        loop {
            match call(request_id.to_owned()).await {
                Err(status) if is_retryable(&status) && retry + 1 < attempts => {
                    tokio::time::sleep(self.backoff(retry, random_unit())).await;
                    retry += 1;
                }
                result => return result,
            }
        }
    }
}

/// Whether a failed call may be tried again as it is: [`Code::Unavailable`] (the server
/// or the network is down, or the connection could not be made) and
/// [`Code::DeadlineExceeded`] (no answer in time; the change may or may not have been
/// made, which the repeated `request_id` makes harmless). Every other code is an answer
/// that another attempt would only repeat.
pub fn is_retryable(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded)
}

/// A uniform random number in `[0, 1)`, from the random bits of a version 4 UUID: the
/// jitter of every backoff in this crate (calls here, reconnections in `events`).
pub(crate) fn random_unit() -> f64 {
    let (high, _) = uuid::Uuid::new_v4().as_u64_pair();
    // The top 53 bits fill an f64 mantissa exactly; a v4 UUID's high word is random there.
    (high >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn fast_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            multiplier: 2.0,
        }
    }

    #[test]
    fn backoff_ceiling_grows_by_the_multiplier_until_the_maximum() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<Duration> = (0..10).map(|n| policy.backoff_ceiling(n)).collect();
        assert_eq!(ceilings[0], Duration::from_millis(100));
        assert_eq!(ceilings[1], Duration::from_millis(200));
        assert_eq!(ceilings[2], Duration::from_millis(400));
        assert_eq!(ceilings[5], Duration::from_millis(3200));
        assert_eq!(ceilings[6], Duration::from_secs(5));
        assert!(ceilings.windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(policy.backoff_ceiling(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn backoff_ceiling_survives_absurd_multipliers() {
        for multiplier in [f64::INFINITY, f64::NAN, -3.0, 1e300] {
            let policy = RetryPolicy {
                multiplier,
                ..RetryPolicy::default()
            };
            for retry in [0, 1, 2, 50, u32::MAX] {
                assert!(policy.backoff_ceiling(retry) <= policy.max_backoff);
            }
        }
    }

    #[test]
    fn jittered_backoff_stays_between_zero_and_the_ceiling() {
        let policy = RetryPolicy::default();
        for retry in 0..8 {
            let ceiling = policy.backoff_ceiling(retry);
            let waits: Vec<Duration> = (0..200)
                .map(|_| policy.backoff(retry, random_unit()))
                .collect();
            assert!(waits.iter().all(|wait| *wait <= ceiling));
            let first = waits[0];
            assert!(
                waits.iter().any(|wait| *wait != first),
                "waits should be jittered"
            );
        }
        assert_eq!(policy.backoff(3, 0.0), Duration::ZERO);
        assert_eq!(policy.backoff(3, 1.0), policy.backoff_ceiling(3));
    }

    #[test]
    fn random_unit_is_in_the_unit_interval() {
        for _ in 0..1000 {
            let unit = random_unit();
            assert!((0.0..1.0).contains(&unit));
        }
    }

    #[test]
    fn only_unavailable_and_deadline_exceeded_are_retryable() {
        assert!(is_retryable(&Status::unavailable("down")));
        assert!(is_retryable(&Status::deadline_exceeded("slow")));
        for status in [
            Status::invalid_argument("bad"),
            Status::failed_precondition("no"),
            Status::not_found("gone"),
            Status::resource_exhausted("full"),
            Status::aborted("conflict"),
            Status::internal("bug"),
            Status::unauthenticated("who"),
            Status::unknown("?"),
        ] {
            assert!(!is_retryable(&status), "{:?}", status.code());
        }
    }

    /// Runs `policy` over a call that answers with `outcomes` in order, recording the
    /// request id of every attempt.
    async fn run_scripted(
        policy: &RetryPolicy,
        outcomes: Vec<Result<&'static str, Status>>,
    ) -> (Result<&'static str, Status>, Vec<String>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(outcomes.into_iter()));
        let result = policy
            .run("carrier-op-7", |request_id| {
                let seen = Arc::clone(&seen);
                let script = Arc::clone(&script);
                async move {
                    seen.lock().unwrap().push(request_id);
                    script.lock().unwrap().next().expect("no more outcomes")
                }
            })
            .await;
        let seen = seen.lock().unwrap().clone();
        (result, seen)
    }

    #[tokio::test]
    async fn retries_unavailable_with_the_same_request_id_until_success() {
        let (result, seen) = run_scripted(
            &fast_policy(),
            vec![
                Err(Status::unavailable("connection refused")),
                Err(Status::deadline_exceeded("timed out")),
                Ok("provisioned"),
            ],
        )
        .await;
        assert_eq!(result.unwrap(), "provisioned");
        assert_eq!(seen, vec!["carrier-op-7"; 3]);
    }

    #[tokio::test]
    async fn does_not_retry_invalid_argument() {
        let (result, seen) = run_scripted(
            &fast_policy(),
            vec![Err(Status::invalid_argument("bad plan")), Ok("never")],
        )
        .await;
        assert_eq!(result.unwrap_err().code(), Code::InvalidArgument);
        assert_eq!(seen.len(), 1);
    }

    #[tokio::test]
    async fn stops_after_max_attempts_with_the_last_error() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..fast_policy()
        };
        let (result, seen) = run_scripted(
            &policy,
            vec![
                Err(Status::unavailable("1")),
                Err(Status::unavailable("2")),
                Err(Status::unavailable("3")),
                Ok("too late"),
            ],
        )
        .await;
        let status = result.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "3");
        assert_eq!(seen.len(), 3);
    }

    #[tokio::test]
    async fn zero_max_attempts_still_makes_one_attempt() {
        let policy = RetryPolicy {
            max_attempts: 0,
            ..fast_policy()
        };
        let (result, seen) =
            run_scripted(&policy, vec![Err(Status::unavailable("down")), Ok("no")]).await;
        assert_eq!(result.unwrap_err().code(), Code::Unavailable);
        assert_eq!(seen.len(), 1);
    }
}
