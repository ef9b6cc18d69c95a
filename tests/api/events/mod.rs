//! The event stream: every committed change exactly once, in commit order, resumable
//! from any sequence number, filtered, and seen by each principal only as far as it may.
//!
//! The scenarios are in the modules below, one concern each; what they share is here.

mod contents;
mod credentials;
mod filters;
mod ordering;
mod resuming;
mod shutdown;
mod visibility;

use crate::support::{ADMIN_TOKEN, TestApp, TestPartner, WAIT};
use chrono::Utc;
use std::{net::SocketAddr, sync::Arc};
use tessera::{Application, Settings, domain::clock::ManualClock};
use tessera_client::{
    pb::{
        self, event_service_client::EventServiceClient, seat_service_client::SeatServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    },
    tonic::{Status, Streaming, transport::Channel},
    with_token,
};
use tokio::{sync::oneshot, task::JoinHandle, time::timeout};

type Events = Streaming<pb::WatchEventsResponse>;

fn events(channel: &Channel) -> EventServiceClient<Channel> {
    EventServiceClient::new(channel.clone())
}

/// Opens a WatchEvents stream with `token`.
async fn watch(
    app: &TestApp,
    token: &str,
    request: pb::WatchEventsRequest,
) -> Result<Events, Status> {
    events(&app.channel)
        .watch_events(with_token(token, request))
        .await
        .map(|response| response.into_inner())
}

/// Everything after `after_sequence`, as the admin.
fn after(after_sequence: i64) -> pb::WatchEventsRequest {
    pb::WatchEventsRequest {
        after_sequence,
        ..Default::default()
    }
}

/// The next event of `stream`, which must come within [`WAIT`].
async fn next_event(stream: &mut Events) -> pb::Event {
    timeout(WAIT, stream.message())
        .await
        .expect("an event arrives in time")
        .expect("the stream does not fail")
        .expect("the stream stays open")
        .event
        .expect("every message carries an event")
}

/// Events of `stream` up to and including the first one that `last` accepts.
async fn events_until(stream: &mut Events, last: impl Fn(&pb::Event) -> bool) -> Vec<pb::Event> {
    let mut seen = Vec::new();
    loop {
        let event = next_event(stream).await;
        let done = last(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

/// Every event committed so far, replayed by a fresh admin stream.
async fn replay_all(app: &TestApp) -> Vec<pb::Event> {
    let last = app.last_event_seq().await;
    if last == 0 {
        return Vec::new();
    }
    let mut stream = watch(app, ADMIN_TOKEN, after(0))
        .await
        .expect("admin watches");
    events_until(&mut stream, |e| e.sequence == last).await
}

fn sequences(events: &[pb::Event]) -> Vec<i64> {
    events.iter().map(|e| e.sequence).collect()
}

fn seat_count(event: &pb::Event) -> i32 {
    event
        .subscription_state
        .as_ref()
        .expect("events carry the subscription")
        .active_seat_count
}

/// A carrier subscription provisioned by `partner` and claimed by the account of `token`.
async fn claimed_carrier_subscription(
    app: &TestApp,
    partner: &TestPartner,
    token: &str,
    plan: &str,
) -> String {
    let provisioned = app
        .provision(partner, &uuid::Uuid::new_v4().to_string(), plan)
        .await;
    app.redeem_code(token, &provisioned.partner_code)
        .await
        .expect("the customer redeems the code");
    provisioned.subscription.unwrap().name
}

async fn set_suspended(
    subscriptions: &mut SubscriptionServiceClient<Channel>,
    partner_key: &str,
    name: &str,
    suspended: bool,
) -> Result<pb::Subscription, Status> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let name = name.to_owned();
    let answer = if suspended {
        subscriptions
            .suspend_subscription(with_token(
                partner_key,
                pb::SuspendSubscriptionRequest { name, request_id },
            ))
            .await
    } else {
        subscriptions
            .resume_subscription(with_token(
                partner_key,
                pb::ResumeSubscriptionRequest { name, request_id },
            ))
            .await
    };
    answer.map(|r| r.into_inner())
}

async fn set_auto_renew(
    subscriptions: &mut SubscriptionServiceClient<Channel>,
    token: &str,
    name: &str,
    auto_renew: bool,
) -> Result<pb::Subscription, Status> {
    subscriptions
        .update_subscription(with_token(
            token,
            pb::UpdateSubscriptionRequest {
                subscription: Some(pb::Subscription {
                    name: name.to_owned(),
                    auto_renew,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["auto_renew".into()],
                }),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn cancel(
    subscriptions: &mut SubscriptionServiceClient<Channel>,
    token: &str,
    name: &str,
    immediately: bool,
) -> Result<pb::Subscription, Status> {
    subscriptions
        .cancel_subscription(with_token(
            token,
            pb::CancelSubscriptionRequest {
                name: name.to_owned(),
                immediately,
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn deactivate(
    seats: &mut SeatServiceClient<Channel>,
    token: &str,
    seat: &str,
) -> Result<pb::Seat, Status> {
    seats
        .deactivate_seat(with_token(
            token,
            pb::DeactivateSeatRequest {
                name: seat.to_owned(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// Another Tessera process over the same database, as a second replica would be.
struct Replica {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl Replica {
    async fn start(database_url: &str) -> Self {
        Self::start_with(database_url, |_| {}).await
    }

    /// A replica whose settings `adjust` changes.
    async fn start_with(database_url: &str, adjust: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings::for_database(database_url.to_owned());
        adjust(&mut settings);
        settings.listen = "127.0.0.1:0".parse().unwrap();
        settings.admin_token = Some(ADMIN_TOKEN.to_owned());
        settings.lifecycle_interval_seconds = 0;
        let app = Application::build_with_clock(&settings, Arc::new(ManualClock::new(Utc::now())))
            .await
            .expect("the replica starts");
        let addr = app.local_addr();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
            .await
            .expect("the replica runs");
        });
        Self {
            addr,
            shutdown,
            server,
        }
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        timeout(WAIT, self.server)
            .await
            .expect("the replica stops in time")
            .unwrap();
    }
}
