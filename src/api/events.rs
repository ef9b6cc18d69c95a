//! `tessera.v1.EventService`: the lifecycle event stream. Each watcher replays from its
//! cursor, then waits for commits: commits in this process and, on PostgreSQL, notices
//! of other replicas' commits wake it at once; it also polls now and then, in case a
//! notice was lost.

use super::{
    convert::{self, subscription_for},
    names,
    principal::{Admin, Partner, caller},
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
use tokio::sync::{mpsc, watch};
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

/// A stream that ends as soon as the server stops, without delivering what is still
/// buffered: a watcher that has stopped reading must not hold up a graceful shutdown,
/// and it resumes from its last sequence anyway.
struct UntilStopped<S> {
    inner: S,
    stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl<S: Stream + Unpin> Stream for UntilStopped<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.stopped.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(None);
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let principal = caller::<(Admin, Partner), _>(&request)?;
        let mut filter = filter(request.get_ref())?;
        let permit = self.quota.acquire(principal)?;
        let services = self.services.clone();
        let poll_interval = self.poll_interval;
        let notifier = services.commits();
        let mut stopping = self.stopping.clone();
        let (sender, receiver) = mpsc::channel(QUEUED);
        tokio::spawn(async move {
            let _watching = services.metrics.event_watcher(principal.kind());
            loop {
                // Listen before reading, so a commit between the read and the wait wakes us.
                let committed = notifier.notified();
                tokio::pin!(committed);
                committed.as_mut().enable();
                let (events, scanned_to) =
                    match services.events_after(principal, &filter, BATCH).await {
                        Ok(batch) => batch,
                        Err(error) => {
                            let _ = sender.send(Err(error.into())).await;
                            return;
                        }
                    };
                for event in events {
                    let changed_at = event.created_at;
                    let message = pb::WatchEventsResponse {
                        event: Some(view(principal, event)),
                    };
                    tokio::select! {
                        sent = sender.send(Ok(message)) => if sent.is_err() { return },
                        _ = stopping.wait_for(|stop| *stop) => return,
                    }
                    services
                        .metrics
                        .event_delivered(services.now() - changed_at);
                }
                let read_something = scanned_to > filter.after_seq;
                filter.after_seq = scanned_to;
                if read_something {
                    continue;
                }
                tokio::select! {
                    _ = &mut committed => {}
                    _ = tokio::time::sleep(poll_interval) => {}
                    _ = sender.closed() => return,
                    _ = stopping.wait_for(|stop| *stop) => return,
                }
            }
        });
        let mut stopping = self.stopping.clone();
        let stopped = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        Ok(Response::new(Box::pin(permit.hold(UntilStopped {
            inner: ReceiverStream::new(receiver),
            stopped: Box::pin(stopped),
        }))))
    }
}
