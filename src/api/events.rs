//! `tessera.v1.EventService`: the lifecycle event stream. Each watcher replays from its
//! cursor, then waits for commits: commits in this process and, on PostgreSQL, notices
//! of other replicas' commits wake it at once; it also polls now and then, in case a
//! notice was lost. A stream lives no longer than its credential: it checks it before
//! every read and several times a second, and ends with the authentication error once
//! the key is revoked or its partner disabled.

use super::{
    convert::{self, subscription_for},
    names,
    principal::{self, Admin, Credential, Partner, caller},
    stream_quota::StreamQuota,
};
use crate::{
    domain::{
        event::{ActorKind, Event, EventFilter, EventType},
        names::subscription as subscription_name,
        principal::Principal,
    },
    error::{Error, Result},
    proto::{self as pb, event_service_server::EventService},
    service::Services,
};
use std::{future::Future, pin::Pin};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

/// Event details a partner may see.
const PARTNER_DETAILS: &[&str] = &["previous_plan", "kind"];
/// Events read per query.
const BATCH: i64 = 500;
/// Messages queued for a watcher before its reader waits for it to take them: with the
/// HTTP/2 send buffer, what a watcher that stopped reading holds on the server.
const QUEUED: usize = 16;

/// The event stream.
#[derive(Debug, Clone)]
pub struct EventApi {
    services: Services,
    stopping: watch::Receiver<bool>,
    poll_interval: std::time::Duration,
    quota: StreamQuota,
}

impl EventApi {
    /// The service over shared state; streams end when `stopping` turns true, so that a
    /// graceful shutdown is not held up by watchers.
    /// A caught-up watcher looks for commits it was not told of every `poll_interval`.
    pub fn new(
        services: Services,
        stopping: watch::Receiver<bool>,
        poll_interval: std::time::Duration,
    ) -> Self {
        Self {
            services,
            stopping,
            poll_interval,
            quota: StreamQuota::new(usize::MAX),
        }
    }

    /// Limits the streams each caller may hold open at once (no limit by default).
    pub fn with_stream_quota(mut self, quota: StreamQuota) -> Self {
        self.quota = quota;
        self
    }
}

fn event_type(proto: pb::EventType) -> Option<EventType> {
    use EventType::*;
    Some(match proto {
        pb::EventType::Unspecified => return None,
        pb::EventType::SubscriptionCreated => SubscriptionCreated,
        pb::EventType::SubscriptionRenewed => SubscriptionRenewed,
        pb::EventType::SubscriptionPlanChanged => SubscriptionPlanChanged,
        pb::EventType::SubscriptionUpdated => SubscriptionUpdated,
        pb::EventType::SubscriptionSuspended => SubscriptionSuspended,
        pb::EventType::SubscriptionResumed => SubscriptionResumed,
        pb::EventType::SubscriptionEnteredGrace => SubscriptionEnteredGrace,
        pb::EventType::SubscriptionExpired => SubscriptionExpired,
        pb::EventType::SubscriptionCancellationScheduled => SubscriptionCancellationScheduled,
        pb::EventType::SubscriptionCancelled => SubscriptionCancelled,
        pb::EventType::SubscriptionTransferred => SubscriptionTransferred,
        pb::EventType::SeatActivated => SeatActivated,
        pb::EventType::SeatDeactivated => SeatDeactivated,
        pb::EventType::SeatMoved => SeatMoved,
        pb::EventType::PartnerCodeRedeemed => PartnerCodeRedeemed,
        pb::EventType::PartnerCodeReissued => PartnerCodeReissued,
        pb::EventType::ProductKeyRedeemed => ProductKeyRedeemed,
    })
}

fn event_type_proto(domain: EventType) -> pb::EventType {
    [
        pb::EventType::SubscriptionCreated,
        pb::EventType::SubscriptionRenewed,
        pb::EventType::SubscriptionPlanChanged,
        pb::EventType::SubscriptionUpdated,
        pb::EventType::SubscriptionSuspended,
        pb::EventType::SubscriptionResumed,
        pb::EventType::SubscriptionEnteredGrace,
        pb::EventType::SubscriptionExpired,
        pb::EventType::SubscriptionCancellationScheduled,
        pb::EventType::SubscriptionCancelled,
        pb::EventType::SubscriptionTransferred,
        pb::EventType::SeatActivated,
        pb::EventType::SeatDeactivated,
        pb::EventType::SeatMoved,
        pb::EventType::PartnerCodeRedeemed,
        pb::EventType::PartnerCodeReissued,
        pb::EventType::ProductKeyRedeemed,
    ]
    .into_iter()
    .find(|proto| event_type(*proto) == Some(domain))
    .unwrap_or(pb::EventType::Unspecified)
}

fn filter(request: &pb::WatchEventsRequest) -> Result<EventFilter> {
    if request.after_sequence < 0 {
        return Err(Error::invalid("after_sequence", "must not be negative"));
    }
    let subscription_id = match request.subscription.as_str() {
        "" => None,
        name => Some(names::subscription("subscription", name)?),
    };
    let types = request
        .types
        .iter()
        .map(|raw| {
            pb::EventType::try_from(*raw)
                .ok()
                .and_then(event_type)
                .ok_or_else(|| Error::invalid("types", "contains an unknown event type"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EventFilter {
        after_seq: request.after_sequence,
        subscription_id,
        types,
    })
}

/// What `access` sees of an event: partners get counts, never seats.
fn view(principal: Principal, event: Event) -> pb::Event {
    let partner = matches!(principal, Principal::Partner(_));
    // Partners learn that a customer acted, never which account it was.
    let actor = match (event.actor.kind, &event.actor.id) {
        (ActorKind::Account, Some(id)) if !partner => format!("accounts/{id}"),
        (ActorKind::Partner, Some(id)) => format!("partners/{id}"),
        _ => String::new(),
    };
    pb::Event {
        sequence: event.seq,
        r#type: event_type_proto(event.event_type) as i32,
        subscription: subscription_name(event.subscription.id),
        create_time: Some(convert::timestamp(event.created_at)),
        actor_kind: pb::ActorKind::from(event.actor.kind) as i32,
        actor,
        request_id: event.request_id.unwrap_or_default(),
        subscription_state: Some(subscription_for(
            principal,
            event.subscription,
            event.created_at,
        )),
        seat: if partner {
            None
        } else {
            event.seat.map(pb::Seat::from)
        },
        // Partners see the facts about their own subscription, never where a device or
        // an account came from.
        details: event
            .details
            .into_iter()
            .filter(|(key, _)| !partner || PARTNER_DETAILS.contains(&key.as_str()))
            .collect(),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEventsResponse, Status>> + Send>>;

/// How often an open stream checks that its credential still works: well within the
/// second in which every replica's read model follows a revocation.
const CREDENTIAL_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// A stream that ends as soon as the server stops, without delivering what is still
/// buffered: a watcher that has stopped reading must not hold up a graceful shutdown,
/// and it resumes from its last sequence anyway. When its credential stops working it
/// ends with that error at once, also without delivering what is buffered.
struct Guarded<S> {
    inner: S,
    stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
    cut: Option<oneshot::Receiver<Status>>,
    ended: bool,
}

impl<S> Stream for Guarded<S>
where
    S: Stream<Item = Result<pb::WatchEventsResponse, Status>> + Unpin,
{
    type Item = S::Item;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.ended || self.stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        if let Some(cut) = self.cut.as_mut() {
            match Pin::new(cut).poll(cx) {
                Poll::Ready(Ok(status)) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(status)));
                }
                // The watcher ended some other way: nothing to cut.
                Poll::Ready(Err(_)) => self.cut = None,
                Poll::Pending => {}
            }
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// One open stream: reads what its principal may see and sends it, until the client
/// goes, the server stops or the credential stops working.
struct Watcher {
    services: Services,
    principal: Principal,
    credential: Credential,
    filter: EventFilter,
    poll_interval: std::time::Duration,
    sender: mpsc::Sender<Result<pb::WatchEventsResponse, Status>>,
}

/// Why a watcher stopped.
enum End {
    /// The client went, the server stops, or an error was sent in order.
    Quietly,
    /// The credential stopped working: the stream ends with this at once.
    Cut(Status),
}

impl Watcher {
    /// Runs until the stream ends, checking the credential at every tick of `check`.
    async fn run(
        mut self,
        mut check: tokio::time::Interval,
        mut stopping: watch::Receiver<bool>,
    ) -> End {
        let notifier = self.services.commits();
        let _watching = self.services.metrics.event_watcher(self.principal.kind());
        loop {
            // Listen before reading, so a commit between the read and the wait wakes us.
            let committed = notifier.notified();
            tokio::pin!(committed);
            committed.as_mut().enable();
            if let Err(status) = self.credential_holds().await {
                return End::Cut(status);
            }
            let (events, scanned_to) = match self
                .services
                .events_after(self.principal, &self.filter, BATCH)
                .await
            {
                Ok(batch) => batch,
                Err(error) => {
                    let _ = self.sender.send(Err(error.into())).await;
                    return End::Quietly;
                }
            };
            for event in events {
                let changed_at = event.created_at;
                let message = pb::WatchEventsResponse {
                    event: Some(view(self.principal, event)),
                };
                let sender = self.sender.clone();
                let send = sender.send(Ok(message));
                tokio::pin!(send);
                loop {
                    tokio::select! {
                        sent = &mut send => if sent.is_err() { return End::Quietly } else {
                            self.services
                                .metrics
                                .event_delivered(self.services.now() - changed_at);
                            break
                        },
                        _ = check.tick() => if let Err(status) = self.credential_holds().await {
                            return End::Cut(status);
                        },
                        _ = stopped(&mut stopping) => return End::Quietly,
                    }
                }
            }
            let read_something = scanned_to > self.filter.after_seq;
            self.filter.after_seq = scanned_to;
            if read_something {
                continue;
            }
            let poll = tokio::time::sleep(self.poll_interval);
            tokio::pin!(poll);
            loop {
                tokio::select! {
                    _ = &mut committed => break,
                    _ = &mut poll => break,
                    _ = check.tick() => if let Err(status) = self.credential_holds().await {
                        return End::Cut(status);
                    },
                    _ = self.sender.closed() => return End::Quietly,
                    _ = stopped(&mut stopping) => return End::Quietly,
                }
            }
        }
    }

    /// Errors: as [`principal::recheck`], as a status.
    async fn credential_holds(&self) -> Result<(), Status> {
        principal::recheck(&self.services, &self.credential, self.principal)
            .await
            .map_err(Status::from)
    }
}

/// Resolves once the server stops.
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let principal = caller::<(Admin, Partner), _>(&request)?;
        let credential = Credential::of(&request);
        let filter = filter(request.get_ref())?;
        let permit = self.quota.acquire(principal)?;
        let (sender, receiver) = mpsc::channel(QUEUED);
        let (cut, cut_off) = oneshot::channel();
        let mut check = tokio::time::interval(CREDENTIAL_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let watcher = Watcher {
            services: self.services.clone(),
            principal,
            credential,
            filter,
            poll_interval: self.poll_interval,
            sender,
        };
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            if let End::Cut(status) = watcher.run(check, stopping).await {
                let _ = cut.send(status);
            }
        });
        let mut stopping = self.stopping.clone();
        Ok(Response::new(Box::pin(permit.hold(Guarded {
            inner: ReceiverStream::new(receiver),
            stopped: Box::pin(async move { stopped(&mut stopping).await }),
            cut: Some(cut_off),
            ended: false,
        }))))
    }
}
