//! Writers race while an admin stream follows from the start: every change arrives
//! exactly once, each writer's changes in the order it made them, and the state each event
//! carries follows from the one before.

use super::{
    WAIT, after, cancel, claimed_carrier_subscription, deactivate, next_event, seat_count,
    sequences, set_auto_renew, set_suspended, watch,
};
use crate::support::{ADMIN_TOKEN, Db, activation, email, on_both_backends, spawn_app};
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    time::Instant,
};
use tessera_client::{
    pb::{
        self, EventType, seat_service_client::SeatServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    },
    tonic::{Code, transport::Channel},
    with_token,
};
use tokio::{sync::mpsc, time::timeout};

on_both_backends!(every_change_appears_exactly_once_in_commit_order_while_writers_race);

/// The subscription part of a seat name `subscriptions/{s}/seats/{t}`.
fn subscription_of_seat(seat: &str) -> String {
    seat.split("/seats/").next().unwrap().to_owned()
}

/// One change a writer made, which must show up as exactly one event.
#[derive(Debug, Clone)]
struct Change {
    subscription: String,
    kind: EventType,
    device: Option<String>,
}

/// What one writer may touch.
#[derive(Clone)]
struct Writer {
    id: usize,
    seats: SeatServiceClient<Channel>,
    subscriptions: SubscriptionServiceClient<Channel>,
    token: String,
    partner_key: String,
    /// Shared subscriptions every writer takes and frees seats on.
    pools: Vec<String>,
    /// A subscription only this writer updates and cancels at period end.
    own: String,
    /// A carrier subscription only this writer suspends and resumes.
    carrier: Option<String>,
}

const WRITERS: usize = 8;
const OPERATIONS: usize = 25;

/// Makes the writer's calls; returns its successful changes in the order it made them.
/// Activations may be refused (seat limit reached, subscription suspended).
async fn write(mut writer: Writer) -> Vec<Change> {
    let mut done = Vec::new();
    let mut held: VecDeque<(String, String)> = VecDeque::new();
    let mut auto_renew = true;
    let mut suspended = false;
    for op in 0..OPERATIONS {
        match ((writer.id * 7 + op * 3) % 10, &writer.carrier) {
            (7, _) => {
                auto_renew = !auto_renew;
                set_auto_renew(
                    &mut writer.subscriptions,
                    &writer.token,
                    &writer.own,
                    auto_renew,
                )
                .await
                .expect("the owner updates auto-renew");
                done.push(Change {
                    subscription: writer.own.clone(),
                    kind: EventType::SubscriptionUpdated,
                    device: None,
                });
            }
            (8, _) => {
                let cancelled =
                    cancel(&mut writer.subscriptions, &writer.token, &writer.own, false)
                        .await
                        .expect("the owner schedules a cancellation");
                assert!(cancelled.cancel_at_period_end);
                auto_renew = false;
                done.push(Change {
                    subscription: writer.own.clone(),
                    kind: EventType::SubscriptionCancellationScheduled,
                    device: None,
                });
            }
            (9, Some(carrier)) => {
                suspended = !suspended;
                set_suspended(
                    &mut writer.subscriptions,
                    &writer.partner_key,
                    carrier,
                    suspended,
                )
                .await
                .expect("the carrier suspends and resumes");
                done.push(Change {
                    subscription: carrier.clone(),
                    kind: if suspended {
                        EventType::SubscriptionSuspended
                    } else {
                        EventType::SubscriptionResumed
                    },
                    device: None,
                });
            }
            (5 | 6, _) if !held.is_empty() => {
                let (seat, device) = held.pop_front().unwrap();
                deactivate(&mut writer.seats, &writer.token, &seat)
                    .await
                    .expect("the customer frees a seat");
                done.push(Change {
                    subscription: subscription_of_seat(&seat),
                    kind: EventType::SeatDeactivated,
                    device: Some(device),
                });
            }
            _ => {
                let pool = &writer.pools[(writer.id + op) % writer.pools.len()];
                let device = format!("writer-{}-op-{op}", writer.id);
                let request = with_token(&writer.token, activation(pool, &device));
                match writer.seats.activate_seat(request).await {
                    Ok(response) => {
                        let seat = response.into_inner().seat.unwrap().name;
                        held.push_back((seat, device.clone()));
                        done.push(Change {
                            subscription: pool.clone(),
                            kind: EventType::SeatActivated,
                            device: Some(device),
                        });
                    }
                    Err(status)
                        if matches!(
                            status.code(),
                            Code::ResourceExhausted | Code::FailedPrecondition
                        ) => {}
                    Err(status) => panic!("unexpected activation failure: {status:?}"),
                }
            }
        }
    }
    done
}

async fn every_change_appears_exactly_once_in_commit_order_while_writers_race(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let carrier = app.partner("Racing Carrier").await;
    let mut setup = Vec::new();
    let created = |subscription: &str| Change {
        subscription: subscription.to_owned(),
        kind: EventType::SubscriptionCreated,
        device: None,
    };
    let mut pools = Vec::new();
    for _ in 0..2 {
        let direct = app.buy(&account, "premium-10").await.name;
        setup.push(created(&direct));
        pools.push(direct);
    }
    let mut carriers = Vec::new();
    for _ in 0..4 {
        let claimed = claimed_carrier_subscription(&app, &carrier, &token, "deluxe-5").await;
        setup.push(created(&claimed));
        setup.push(Change {
            subscription: claimed.clone(),
            kind: EventType::PartnerCodeRedeemed,
            device: None,
        });
        pools.push(claimed.clone());
        carriers.push(claimed);
    }
    let mut writers = Vec::new();
    for id in 0..WRITERS {
        let own = app.buy(&account, "deluxe-3").await.name;
        setup.push(created(&own));
        writers.push(Writer {
            id,
            seats: app.seats(),
            subscriptions: app.subscriptions(),
            token: token.clone(),
            partner_key: carrier.api_key.clone(),
            pools: pools.clone(),
            own,
            carrier: carriers.get(id).cloned(),
        });
    }

    // The watcher follows from the very beginning while the writers race.
    let mut stream = watch(&app, ADMIN_TOKEN, after(0)).await.unwrap();
    let first = next_event(&mut stream).await;
    assert_eq!(first.sequence, 1);
    let (streamed, mut received) = mpsc::unbounded_channel();
    streamed.send(first).unwrap();
    let watcher = tokio::spawn(async move {
        while let Ok(Some(message)) = stream.message().await {
            if streamed.send(message.event.unwrap()).is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let outcomes = futures::future::join_all(
        writers
            .into_iter()
            .map(|writer| tokio::spawn(write(writer))),
    )
    .await;
    let writing = started.elapsed();
    let per_writer: Vec<Vec<Change>> = outcomes
        .into_iter()
        .map(|outcome| outcome.expect("a writer finishes"))
        .collect();
    let total = app.last_event_seq().await;
    let mut seen: Vec<pb::Event> = Vec::new();
    while seen.last().is_none_or(|e| e.sequence < total) {
        let event = timeout(WAIT, received.recv())
            .await
            .expect("the watcher keeps up")
            .expect("the watcher's stream stays open");
        seen.push(event);
    }
    let caught_up = started.elapsed();
    watcher.abort();

    // Sequence numbers: 1..=N, each once, in order.
    assert_eq!(sequences(&seen), (1..=total).collect::<Vec<_>>());

    // Exactly one event per successful change, per subscription and type.
    let changes: Vec<&Change> = setup.iter().chain(per_writer.iter().flatten()).collect();
    let mut expected: BTreeMap<(String, i32), usize> = BTreeMap::new();
    for change in &changes {
        *expected
            .entry((change.subscription.clone(), change.kind as i32))
            .or_default() += 1;
    }
    let mut actual: BTreeMap<(String, i32), usize> = BTreeMap::new();
    for event in &seen {
        *actual
            .entry((event.subscription.clone(), event.r#type))
            .or_default() += 1;
    }
    assert_eq!(actual, expected);
    assert_eq!(seen.len(), changes.len());

    // Seat events name the device that took or freed the seat: one event each.
    let mut seat_events: HashMap<(i32, String), i64> = HashMap::new();
    for event in &seen {
        if let Some(seat) = &event.seat {
            let key = (event.r#type, seat.device_id.clone());
            assert!(
                seat_events.insert(key, event.sequence).is_none(),
                "{event:?}"
            );
            assert_eq!(subscription_of_seat(&seat.name), event.subscription);
        }
    }

    // Each writer's changes committed in the order it made them.
    let mut by_kind: HashMap<(String, i32), VecDeque<i64>> = HashMap::new();
    for event in &seen {
        by_kind
            .entry((event.subscription.clone(), event.r#type))
            .or_default()
            .push_back(event.sequence);
    }
    for (writer, done) in per_writer.iter().enumerate() {
        let order: Vec<i64> = done
            .iter()
            .map(|change| match &change.device {
                Some(device) => seat_events[&(change.kind as i32, device.clone())],
                None => by_kind
                    .get_mut(&(change.subscription.clone(), change.kind as i32))
                    .and_then(VecDeque::pop_front)
                    .expect("an event for every change"),
            })
            .collect();
        assert!(
            order.windows(2).all(|pair| pair[0] < pair[1]),
            "writer {writer}: {order:?}"
        );
    }

    // The state after each event follows from the state after the one before.
    let mut seats: HashMap<&str, i32> = HashMap::new();
    for event in &seen {
        let before = seats.entry(event.subscription.as_str()).or_insert(0);
        let change = match event.r#type() {
            EventType::SeatActivated => 1,
            EventType::SeatDeactivated => -1,
            _ => 0,
        };
        assert_eq!(seat_count(event), *before + change, "{event:?}");
        *before += change;
    }
    for (pool, count) in &seats {
        let current = app.get_subscription(&token, pool).await.unwrap();
        assert_eq!(current.active_seat_count, *count, "{pool}");
    }

    let succeeded: usize = per_writer.iter().map(Vec::len).sum();
    eprintln!(
        "events ({db:?}): {total} streamed ({} setup, {succeeded} of {} racing calls succeeded); \
         writers took {writing:?}, the watcher was caught up {:?} after the start ({:.0} events/s)",
        setup.len(),
        WRITERS * OPERATIONS,
        caught_up,
        total as f64 / caught_up.as_secs_f64(),
    );
    app.stop().await;
}
