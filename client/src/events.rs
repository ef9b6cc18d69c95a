//! Following Tessera's lifecycle events without gaps or duplicates, across dropped
//! connections.
//!
//! `EventService.WatchEvents` numbers every committed change with a global `sequence`,
//! in commit order (a change committed before another began comes first) and without
//! gaps, and replays everything after a given
//! `after_sequence` before following new changes live. [`EventWatcher`] builds a
//! resumable feed on that: it remembers the sequence of the last event it handed out and,
//! when the stream ends or breaks for a transient reason (see [`is_resumable`]), opens a
//! new one after that sequence, with exponential backoff and full jitter as its
//! [`RetryPolicy`] says. Callers see every event once, in order, even across restarts
//! of Tessera.
//!
//! To survive restarts of the watching service itself, store
//! [`EventWatcher::last_sequence`] together with the effect of each event (in the same
//! transaction, where possible) and pass it as [`WatchFilter::after_sequence`] on the
//! next start.
//!
//! ```no_run
//! use tessera_client::{EventWatcher, WatchFilter, connect, pb};
//!
//! # fn load_checkpoint() -> i64 { 0 }
//! # fn save_checkpoint(_: i64, _: &pb::Event) {}
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = connect("https://tessera.example.com").await?;
//! let mut watcher = EventWatcher::new(
//!     channel,
//!     "tk_live_…", // the admin token, or a carrier's partner API key
//!     WatchFilter {
//!         after_sequence: load_checkpoint(), // 0 on the very first start
//!         types: vec![pb::EventType::SeatActivated, pb::EventType::SeatDeactivated],
//!         ..WatchFilter::default()
//!     },
//! );
//! loop {
//!     // Waits for the next event; reconnects by itself after transient failures.
//!     let event = watcher.next().await?;
//!     let seats = event.subscription_state.as_ref().map_or(0, |s| s.active_seat_count);
//!     println!("#{} {} now has {seats} devices", event.sequence, event.subscription);
//!     save_checkpoint(watcher.last_sequence(), &event);
//! }
//! # }
//! ```
//!
//! [`connect`](crate::connect) takes `https://` endpoints checked against the system's
//! root certificates; with a private CA or a client certificate, get the channel from
//! [`CarrierConfig::channel`](crate::CarrierConfig::channel) instead.
//!
//! A partner API key sees only the events of the partner's own subscriptions, and never
//! their `seat`.

use std::{future::Future, time::Instant};

use tonic::{Code, Status, Streaming, transport::Channel};
use tonic_types::StatusExt;

use crate::{
    RetryPolicy,
    pb::{self, event_service_client::EventServiceClient},
    retry::random_unit,
    with_token,
};

/// Which events an [`EventWatcher`] follows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchFilter {
    /// Start after this sequence number: 0 for everything the caller may see, or a
    /// checkpoint saved from [`EventWatcher::last_sequence`]. Must not be negative.
    pub after_sequence: i64,
    /// Only the events of this subscription, `subscriptions/{id}`; empty for all.
    pub subscription: String,
    /// Only these types; empty for all. [`pb::EventType::Unspecified`] is refused.
    pub types: Vec<pb::EventType>,
}

/// A resumable `WatchEvents` feed: hands out events one at a time, in sequence order,
/// each exactly once, and reconnects by itself when the stream ends or breaks for a
/// transient reason.
///
/// After a break the watcher waits a random time between zero and the backoff ceiling of
/// its [`RetryPolicy`] (growing with each consecutive failure), then asks for the events
/// after [`Self::last_sequence`]. A stream that delivered an event, or stayed open at
/// least `max_backoff`, resets the count. After `max_attempts` consecutive failed
/// attempts, or on a failure that is not [resumable](is_resumable), [`Self::next`]
/// returns the error; calling it again starts over from the last sequence.
///
/// The default policy is [`EventWatcher::default_retry_policy`].
#[derive(Debug)]
pub struct EventWatcher {
    inner: Resumer<Grpc>,
}

impl EventWatcher {
    /// A watcher over `channel` (see [`crate::connect`]) that authenticates with `token`,
    /// the admin token or a partner API key. Nothing is sent before the first
    /// [`Self::next`].
    pub fn new(channel: Channel, token: impl Into<String>, filter: WatchFilter) -> Self {
        Self {
            inner: Resumer::new(
                Grpc {
                    client: EventServiceClient::new(channel),
                    token: token.into(),
                },
                filter,
                Self::default_retry_policy(),
            ),
        }
    }

    /// The policy of a new watcher: up to 10 consecutive attempts, waits growing from
    /// 100 ms to at most 5 s (about 15 s of trying before giving up).
    pub fn default_retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            ..RetryPolicy::default()
        }
    }

    /// Replaces the reconnection policy.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.inner.policy = policy;
        self
    }

    /// The next event: the first one after [`Self::last_sequence`] that the filter lets
    /// through, waiting for it to be committed if need be.
    ///
    /// Cancel safe: dropping the future (for example in `tokio::select!`) loses no event;
    /// the next call goes on where this one stopped.
    ///
    /// # Errors
    /// A status that is not [resumable](is_resumable), such as `PERMISSION_DENIED` for an
    /// account token or `INVALID_ARGUMENT` for a bad filter; or the last transient failure
    /// once the retry policy is exhausted.
    pub async fn next(&mut self) -> Result<pb::Event, Status> {
        self.inner.next().await
    }

    /// The sequence number of the last event handed out (the filter's `after_sequence`
    /// before the first one): the checkpoint to resume from.
    pub fn last_sequence(&self) -> i64 {
        self.inner.last_sequence
    }
}

/// Whether a watch that failed with `status` may be resumed by opening a new stream:
/// `UNAVAILABLE` (server down, restarting or unreachable), `DEADLINE_EXCEEDED`,
/// `CANCELLED`, and failures of the connection itself, which tonic reports as `INTERNAL`
/// (such as a reset HTTP/2 stream or a stream cut off mid-message) or as `UNKNOWN`
/// carrying the underlying I/O error. An `INTERNAL` that Tessera itself sent (it always
/// attaches an `ErrorInfo`) and every other code are answers, not accidents.
pub fn is_resumable(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => true,
        Code::Internal => status.get_error_details().error_info().is_none(),
        Code::Unknown => std::error::Error::source(status).is_some(),
        _ => false,
    }
}

/// Opening a `WatchEvents` stream; a trait so that the reconnection logic can be tested
/// without a server.
trait Connect {
    /// An open stream.
    type Stream: EventStream;

    /// Opens a stream for `request`.
    fn open(
        &mut self,
        request: pb::WatchEventsRequest,
    ) -> impl Future<Output = Result<Self::Stream, Status>> + Send;
}

/// The messages of an open `WatchEvents` stream.
trait EventStream {
    /// The next message; `None` once the stream has ended.
    fn message(
        &mut self,
    ) -> impl Future<Output = Result<Option<pb::WatchEventsResponse>, Status>> + Send;
}

/// The real thing: the generated client with a bearer token.
#[derive(Debug)]
struct Grpc {
    client: EventServiceClient<Channel>,
    token: String,
}

impl Connect for Grpc {
    type Stream = Streaming<pb::WatchEventsResponse>;

    async fn open(&mut self, request: pb::WatchEventsRequest) -> Result<Self::Stream, Status> {
        let request = with_token(&self.token, request);
        Ok(self.client.watch_events(request).await?.into_inner())
    }
}

impl EventStream for Streaming<pb::WatchEventsResponse> {
    async fn message(&mut self) -> Result<Option<pb::WatchEventsResponse>, Status> {
        Streaming::message(self).await
    }
}

/// The reconnection and deduplication logic of [`EventWatcher`], over any [`Connect`].
#[derive(Debug)]
struct Resumer<C: Connect> {
    connect: C,
    filter: WatchFilter,
    policy: RetryPolicy,
    last_sequence: i64,
    stream: Option<C::Stream>,
    /// When the open stream was opened.
    opened_at: Option<Instant>,
    /// Consecutive attempts that ended in failure without delivering anything.
    failures: u32,
    /// Not before this instant may the next attempt start.
    retry_at: Option<tokio::time::Instant>,
}

impl<C: Connect> Resumer<C> {
    fn new(connect: C, filter: WatchFilter, policy: RetryPolicy) -> Self {
        Self {
            connect,
            last_sequence: filter.after_sequence,
            filter,
            policy,
            stream: None,
            opened_at: None,
            failures: 0,
            retry_at: None,
        }
    }

    /// The request that resumes after the last event handed out.
    fn request(&self) -> pb::WatchEventsRequest {
        pb::WatchEventsRequest {
            after_sequence: self.last_sequence,
            subscription: self.filter.subscription.clone(),
            types: self.filter.types.iter().map(|t| *t as i32).collect(),
        }
    }

    async fn next(&mut self) -> Result<pb::Event, Status> {
        loop {
            if self.stream.is_none() {
                if let Some(at) = self.retry_at {
                    tokio::time::sleep_until(at).await;
                    self.retry_at = None;
                }
                match self.connect.open(self.request()).await {
                    Ok(stream) => {
                        self.opened_at = Some(Instant::now());
                        self.stream = Some(stream);
                    }
                    Err(status) => {
                        self.broken(status)?;
                        continue;
                    }
                }
            }
            let stream = self.stream.as_mut().expect("opened above");
            let broke = match stream.message().await {
                Ok(Some(message)) => {
                    if let Some(event) = self.accept(message) {
                        return Ok(event);
                    }
                    continue;
                }
                Ok(None) => Status::unavailable("the event stream ended"),
                Err(status) => status,
            };
            self.stream = None;
            self.broken(broke)?;
        }
    }

    /// The event of `message` if it is new; an event at or below the last sequence (a
    /// server replaying more than asked for) is dropped.
    fn accept(&mut self, message: pb::WatchEventsResponse) -> Option<pb::Event> {
        let event = message.event?;
        if event.sequence <= self.last_sequence {
            return None;
        }
        self.last_sequence = event.sequence;
        self.failures = 0;
        Some(event)
    }

    /// Records a failed attempt or a broken stream: schedules the next attempt, or
    /// returns `status` when it is final or the policy is exhausted.
    fn broken(&mut self, status: Status) -> Result<(), Status> {
        if self
            .opened_at
            .take()
            .is_some_and(|opened| opened.elapsed() >= self.policy.max_backoff)
        {
            self.failures = 0;
        }
        if !is_resumable(&status) || self.failures + 1 >= self.policy.max_attempts.max(1) {
            self.failures = 0;
            self.retry_at = None;
            return Err(status);
        }
        let wait = self
            .policy
            .backoff_ceiling(self.failures)
            .mul_f64(random_unit());
        self.retry_at = Some(tokio::time::Instant::now() + wait);
        self.failures += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        collections::VecDeque,
        sync::{Arc, Mutex},
        time::Duration,
    };
    use tonic_types::ErrorDetails;

    /// What one attempt does: fail to open, or open a stream that yields these items.
    enum Attempt {
        Refused(Status),
        Opened(Vec<Result<Option<pb::WatchEventsResponse>, Status>>),
    }

    /// A scripted server that records the `after_sequence` of every attempt.
    #[derive(Clone)]
    struct Script {
        attempts: Arc<Mutex<VecDeque<Attempt>>>,
        requests: Arc<Mutex<Vec<pb::WatchEventsRequest>>>,
    }

    impl Script {
        fn new(attempts: Vec<Attempt>) -> Self {
            Self {
                attempts: Arc::new(Mutex::new(attempts.into())),
                requests: Arc::default(),
            }
        }

        fn after_sequences(&self) -> Vec<i64> {
            let requests = self.requests.lock().unwrap();
            requests.iter().map(|r| r.after_sequence).collect()
        }
    }

    struct ScriptedStream(VecDeque<Result<Option<pb::WatchEventsResponse>, Status>>);

    impl Connect for Script {
        type Stream = ScriptedStream;

        async fn open(
            &mut self,
            request: pb::WatchEventsRequest,
        ) -> Result<ScriptedStream, Status> {
            self.requests.lock().unwrap().push(request);
            match self.attempts.lock().unwrap().pop_front() {
                Some(Attempt::Refused(status)) => Err(status),
                Some(Attempt::Opened(items)) => Ok(ScriptedStream(items.into())),
                None => Err(Status::unavailable("script exhausted")),
            }
        }
    }

    impl EventStream for ScriptedStream {
        async fn message(&mut self) -> Result<Option<pb::WatchEventsResponse>, Status> {
            self.0.pop_front().unwrap_or(Ok(None))
        }
    }

    fn event(sequence: i64) -> Result<Option<pb::WatchEventsResponse>, Status> {
        Ok(Some(pb::WatchEventsResponse {
            event: Some(pb::Event {
                sequence,
                ..pb::Event::default()
            }),
        }))
    }

    fn fast(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            multiplier: 2.0,
        }
    }

    fn watcher(script: &Script, after: i64, max_attempts: u32) -> Resumer<Script> {
        let filter = WatchFilter {
            after_sequence: after,
            subscription: "subscriptions/s-1".into(),
            types: vec![pb::EventType::SeatActivated],
        };
        Resumer::new(script.clone(), filter, fast(max_attempts))
    }

    async fn sequences(watcher: &mut Resumer<Script>, count: usize) -> Vec<i64> {
        let mut seen = Vec::new();
        for _ in 0..count {
            seen.push(watcher.next().await.expect("an event").sequence);
        }
        seen
    }

    #[tokio::test]
    async fn resumes_after_the_last_event_handed_out_when_the_stream_breaks() {
        let script = Script::new(vec![
            Attempt::Opened(vec![
                event(4),
                event(5),
                Err(Status::internal("h2 protocol error: connection reset")),
            ]),
            Attempt::Refused(Status::unavailable("connection refused")),
            Attempt::Opened(vec![event(6), event(7), Ok(None)]),
            Attempt::Opened(vec![event(8)]),
        ]);
        let mut watcher = watcher(&script, 3, 5);
        assert_eq!(sequences(&mut watcher, 5).await, vec![4, 5, 6, 7, 8]);
        assert_eq!(watcher.last_sequence, 8);
        assert_eq!(script.after_sequences(), vec![3, 5, 5, 7]);
        let request = &script.requests.lock().unwrap()[2];
        assert_eq!(request.subscription, "subscriptions/s-1");
        assert_eq!(request.types, vec![pb::EventType::SeatActivated as i32]);
    }

    #[tokio::test]
    async fn drops_events_it_has_already_handed_out() {
        let script = Script::new(vec![
            Attempt::Opened(vec![event(1), event(2), Ok(None)]),
            // A server replaying from too far back, and a message without an event.
            Attempt::Opened(vec![
                event(1),
                event(2),
                Ok(Some(pb::WatchEventsResponse { event: None })),
                event(3),
            ]),
        ]);
        let mut watcher = watcher(&script, 0, 5);
        assert_eq!(sequences(&mut watcher, 3).await, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_consecutive_failures_and_keeps_the_checkpoint() {
        let script = Script::new(vec![
            Attempt::Opened(vec![event(10), Ok(None)]),
            Attempt::Refused(Status::unavailable("1")),
            Attempt::Refused(Status::unavailable("2")),
            Attempt::Opened(vec![event(11)]),
        ]);
        let mut watcher = watcher(&script, 9, 3);
        assert_eq!(sequences(&mut watcher, 1).await, vec![10]);
        let status = watcher.next().await.unwrap_err();
        assert_eq!((status.code(), status.message()), (Code::Unavailable, "2"));
        assert_eq!(watcher.last_sequence, 10);
        // Calling again starts over from the checkpoint.
        assert_eq!(sequences(&mut watcher, 1).await, vec![11]);
        assert_eq!(script.after_sequences(), vec![9, 10, 10, 10]);
    }

    #[tokio::test]
    async fn a_delivered_event_resets_the_failure_count() {
        let unavailable = || Attempt::Refused(Status::unavailable("blip"));
        let script = Script::new(vec![
            unavailable(),
            unavailable(),
            Attempt::Opened(vec![event(1), Err(Status::unavailable("gone"))]),
            unavailable(),
            unavailable(),
            Attempt::Opened(vec![event(2)]),
        ]);
        let mut watcher = watcher(&script, 0, 4);
        assert_eq!(sequences(&mut watcher, 2).await, vec![1, 2]);
    }

    #[tokio::test]
    async fn answers_that_are_not_transient_are_returned_at_once() {
        let denied = Status::permission_denied("a account credential cannot call this method");
        let script = Script::new(vec![
            Attempt::Refused(denied),
            Attempt::Opened(vec![event(1)]),
        ]);
        let mut watcher = watcher(&script, 0, 5);
        let status = watcher.next().await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(script.after_sequences(), vec![0]);
        assert_eq!(watcher.last_sequence, 0);
    }

    #[test]
    fn transport_failures_are_resumable_and_server_answers_are_not() {
        for status in [
            Status::unavailable("connection refused"),
            Status::deadline_exceeded("timeout expired"),
            Status::cancelled("h2 protocol error: stream cancelled"),
            Status::internal("h2 protocol error: error reading a body from connection"),
            Status::internal("Unexpected EOF decoding stream."),
            Status::from_error(Box::new(std::io::Error::other("connection reset"))),
        ] {
            assert!(is_resumable(&status), "{status:?}");
        }
        let tessera_internal = Status::with_error_details(
            Code::Internal,
            "internal error",
            ErrorDetails::with_error_info(
                "INTERNAL",
                "tessera.dev",
                std::collections::HashMap::new(),
            ),
        );
        for status in [
            tessera_internal,
            Status::unknown("sent by a server"),
            Status::invalid_argument("types"),
            Status::permission_denied("PRINCIPAL_NOT_ALLOWED"),
            Status::unauthenticated("bad token"),
            Status::not_found("subscription"),
        ] {
            assert!(!is_resumable(&status), "{status:?}");
        }
    }

    #[tokio::test]
    async fn the_grpc_watcher_starts_from_the_filter_checkpoint() {
        let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:9").connect_lazy();
        let watcher = EventWatcher::new(
            channel,
            "token",
            WatchFilter {
                after_sequence: 42,
                ..WatchFilter::default()
            },
        );
        assert_eq!(watcher.last_sequence(), 42);
        assert_eq!(watcher.inner.request().after_sequence, 42);
        assert_eq!(watcher.inner.policy, EventWatcher::default_retry_policy());
    }
}
