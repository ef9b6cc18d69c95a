//! Outbox benchmark on PostgreSQL, through the store as two replicas would use it: how
//! many units of work with an event commit per second with many writers at once, and how
//! long a committed event takes to reach a watcher on the writer's replica and on the
//! other one.
//!
//! ```text
//! psql -h 127.0.0.1 -U postgres -d test -c 'CREATE DATABASE bench_outbox'
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_outbox cargo bench --bench outbox
//! ```
//!
//! - `BENCH_DATABASE_URL` (required): the database; migrated, and rows are added.
//! - `BENCH_UNITS` (default 4000): units of work committed by the concurrent writers.
//! - `BENCH_CONCURRENCY` (default 32): concurrent writers, half on each replica, each on a
//!   subscription of its own.
//! - `BENCH_ROUNDS` (default 200): single commits timed until both watchers have them.
//!
//! Replica A starts its sequencer first and numbers a first event alone, so it leads; B
//! stands by. Both listen for the other's commit notices, as servers do.

use std::{
    error::Error,
    sync::Arc,
    time::{Duration, Instant},
};
use tessera::{
    domain::{
        catalog::Catalog,
        event::{EventType, NewEvent},
        principal::Scope,
        subscription::{Channel, NewSubscription, Subscription},
    },
    store::{self, Store, WriteContext},
};
use tokio::{sync::mpsc, task::JoinHandle};

type Shared = Arc<dyn Store>;

fn env_usize(name: &str, default: usize) -> Result<usize, Box<dyn Error>> {
    match std::env::var(name) {
        Ok(raw) => match raw.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, not {raw:?}").into()),
        },
        Err(_) => Ok(default),
    }
}

fn context() -> WriteContext {
    WriteContext {
        author: None,
        request_id: None,
        now: chrono::Utc::now(),
    }
}

fn new_subscription() -> Subscription {
    let now = chrono::Utc::now();
    Subscription::create(
        NewSubscription {
            plan: Catalog::embedded()
                .plan("deluxe-3")
                .expect("the catalog has deluxe-3")
                .clone(),
            channel: Channel::Retail,
            account_id: None,
            auto_renew: true,
            term_start: now,
            term_end: None,
            partner_id: None,
            partner_reference: None,
            product_key: None,
        },
        now,
        &mut Vec::new(),
    )
}

/// A unit as a use case makes it: lock the subscription, change it, save, one event.
async fn change(store: &Shared, id: uuid::Uuid) -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut unit = store.begin(context()).await?;
    let mut locked = unit.lock_subscription(Scope::All, id).await?;
    locked.updated_at = chrono::Utc::now();
    unit.save_subscription(&locked).await?;
    unit.emit(NewEvent::of(EventType::SubscriptionUpdated, &locked));
    unit.commit().await?;
    Ok(())
}

/// Nearest-rank percentile of sorted `samples`, `q` in (0, 1].
fn percentile(samples: &[Duration], q: f64) -> Duration {
    let rank = (q * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let ms = |d: Duration| format!("{:8.2}", d.as_secs_f64() * 1000.0);
    println!(
        "{label:<44} {:>6} {} {} {} {}",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.9)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap()),
    );
}

/// Waits until `store` reads sequence `seq`, woken by its commit notices.
async fn until_numbered(store: &Shared, seq: i64) -> Result<(), Box<dyn Error>> {
    let commits = store.commits();
    loop {
        let woken = commits.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if store.last_event_seq().await? >= seq {
            return Ok(());
        }
        tokio::time::timeout(Duration::from_secs(30), woken)
            .await
            .map_err(|_| format!("sequence {seq} not numbered within 30 s"))?;
    }
}

/// A watcher on `store` from sequence `after`, sending each sequence it reads and when.
fn watch(store: Shared, after: i64, seen: mpsc::UnboundedSender<(i64, Instant)>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let commits = store.commits();
        let mut cursor = after;
        loop {
            let woken = commits.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            // Fails only once the benchmark closes the store.
            let Ok(events) = store.events_after(Scope::All, cursor, None, 500).await else {
                return;
            };
            let now = Instant::now();
            for event in &events {
                if seen.send((event.seq, now)).is_err() {
                    return;
                }
            }
            match events.last() {
                Some(last) => cursor = last.seq,
                None => woken.await,
            }
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("BENCH_DATABASE_URL")
        .map_err(|_| "BENCH_DATABASE_URL must name a PostgreSQL database")?;
    let units = env_usize("BENCH_UNITS", 4000)?;
    let concurrency = env_usize("BENCH_CONCURRENCY", 32)?;
    let rounds = env_usize("BENCH_ROUNDS", 200)?;
    let a: Shared = store::connect(&url).await?;
    a.migrate().await?;
    let b: Shared = store::connect(&url).await?;
    let mut background = Vec::new();
    for replica in [&a, &b] {
        if let Some(listener) = replica.listen_for_commits(&url, Arc::new(|_| {})).await? {
            background.push(tokio::spawn(listener));
        }
    }

    let subscriptions: Vec<Subscription> = (0..concurrency).map(|_| new_subscription()).collect();
    let mut unit = a.begin(context()).await?;
    for s in &subscriptions {
        unit.insert_subscription(s).await?;
    }
    unit.commit().await?;
    if let Some(sequencer) = a.event_sequencer().await? {
        background.push(tokio::spawn(sequencer));
    }
    // Only A's sequencer runs: whoever numbers this event leads.
    let first = a.last_event_seq().await? + 1;
    change(&a, subscriptions[0].id)
        .await
        .map_err(|e| e.to_string())?;
    until_numbered(&a, first).await?;
    if let Some(sequencer) = b.event_sequencer().await? {
        background.push(tokio::spawn(sequencer));
    }

    // Throughput: writers at once, half on each replica, each on its own subscription.
    let start_seq = a.last_event_seq().await?;
    let started = Instant::now();
    let writers: Vec<_> = subscriptions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (id, count) = (
                s.id,
                units / concurrency + usize::from(i < units % concurrency),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(count);
                for _ in 0..count {
                    let sent = Instant::now();
                    change(&store, id).await.expect("a unit commits");
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(units);
    for writer in writers {
        latencies.extend(writer.await?);
    }
    let committed = started.elapsed();
    until_numbered(&a, start_seq + units as i64).await?;
    let numbered = started.elapsed();
    println!(
        "{units} units, {concurrency} writers: {:.0} commits/s; all committed after {:.2} s, \
         all numbered after {:.2} s",
        units as f64 / committed.as_secs_f64(),
        committed.as_secs_f64(),
        numbered.as_secs_f64(),
    );
    println!(
        "{:<44} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "(ms)", "n", "p50", "p90", "p99", "max"
    );
    summary("commit, concurrent writers", latencies);

    // Latency: one commit at a time, alternately on each replica, until both have it.
    let after = a.last_event_seq().await?;
    let (to_a, mut seen_a) = mpsc::unbounded_channel();
    let (to_b, mut seen_b) = mpsc::unbounded_channel();
    let watchers = [watch(a.clone(), after, to_a), watch(b.clone(), after, to_b)];
    let mut samples: [[Vec<Duration>; 2]; 2] = Default::default();
    let mut commits = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        let writer = round % 2;
        let store = if writer == 0 { &a } else { &b };
        let sent = Instant::now();
        change(store, subscriptions[writer].id)
            .await
            .map_err(|e| e.to_string())?;
        commits[writer].push(sent.elapsed());
        let seq = after + 1 + round as i64;
        for (reader, seen) in [&mut seen_a, &mut seen_b].into_iter().enumerate() {
            let (got, at) = seen.recv().await.ok_or("a watcher stopped")?;
            assert_eq!(got, seq, "watchers see every event in order");
            samples[writer][reader].push(at - sent);
        }
    }
    let [[aa, ab], [ba, bb]] = samples;
    let [commit_a, commit_b] = commits;
    summary("commit on A (leads)", commit_a);
    summary("commit on B (stands by)", commit_b);
    summary("commit on A -> watcher on A", aa);
    summary("commit on A -> watcher on B", ab);
    summary("commit on B -> watcher on A", ba);
    summary("commit on B -> watcher on B", bb);

    for task in watchers.into_iter().chain(background) {
        task.abort();
    }
    b.close().await;
    a.close().await;
    Ok(())
}
