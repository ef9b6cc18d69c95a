//! Picking up where a reader left off: a reopened stream, and the client's `EventWatcher`
//! from a saved checkpoint and across a cut connection and a server restart; and the
//! watcher giving up once the server stays down.

use super::{Replica, WAIT, after, events_until, next_event, sequences, watch};
use crate::support::{ADMIN_TOKEN, Db, email, on_both_backends, spawn_app};
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tessera_client::{EventWatcher, RetryPolicy, WatchFilter, tonic::Code};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::{AbortHandle, JoinHandle},
    time::timeout,
};

on_both_backends!(
    a_stream_reopened_after_the_last_seen_sequence_continues_without_gaps_or_duplicates,
    the_event_watcher_resumes_from_a_saved_checkpoint,
    the_event_watcher_bridges_a_cut_connection_and_a_server_restart_without_gaps_or_duplicates,
    the_event_watcher_gives_up_with_unavailable_once_the_server_stays_down,
);

async fn a_stream_reopened_after_the_last_seen_sequence_continues_without_gaps_or_duplicates(
    db: Db,
) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "premium-10").await.name;
    for device in 0..5 {
        app.activate(&token, &subscription, &format!("pc-{device}"))
            .await
            .unwrap();
    }
    let mut first = watch(&app, ADMIN_TOKEN, after(0)).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_event(&mut first).await);
    }
    drop(first);

    for device in 5..9 {
        app.activate(&token, &subscription, &format!("pc-{device}"))
            .await
            .unwrap();
    }
    let last_seen = seen.last().unwrap().sequence;
    let mut second = watch(&app, ADMIN_TOKEN, after(last_seen)).await.unwrap();
    seen.extend(events_until(&mut second, |e| e.sequence == 10).await);
    assert_eq!(sequences(&seen), (1..=10).collect::<Vec<_>>());

    // The reopened stream is live: a later change arrives on it.
    app.activate(&token, &subscription, "pc-9").await.unwrap();
    let live = next_event(&mut second).await;
    assert_eq!(live.sequence, 11);
    assert_eq!(live.seat.unwrap().device_id, "pc-9");
    app.stop().await;
}

async fn the_event_watcher_resumes_from_a_saved_checkpoint(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "premium-10").await.name;
    for device in 0..4 {
        app.activate(&token, &subscription, &format!("pc-{device}"))
            .await
            .unwrap();
    }
    let mut watcher = EventWatcher::new(app.channel.clone(), ADMIN_TOKEN, WatchFilter::default());
    assert_eq!(watcher.last_sequence(), 0);
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(timeout(WAIT, watcher.next()).await.unwrap().unwrap());
    }
    let checkpoint = watcher.last_sequence();
    assert_eq!(checkpoint, 3);
    drop(watcher);

    for device in 4..7 {
        app.activate(&token, &subscription, &format!("pc-{device}"))
            .await
            .unwrap();
    }
    let mut resumed = EventWatcher::new(
        app.channel.clone(),
        ADMIN_TOKEN,
        WatchFilter {
            after_sequence: checkpoint,
            ..WatchFilter::default()
        },
    );
    while seen.last().unwrap().sequence < 8 {
        seen.push(timeout(WAIT, resumed.next()).await.unwrap().unwrap());
    }
    assert_eq!(sequences(&seen), (1..=8).collect::<Vec<_>>());
    assert_eq!(resumed.last_sequence(), 8);
    app.stop().await;
}

/// A TCP relay in front of a server whose connections can be cut and whose target can
/// be switched, as a load balancer in front of restarting replicas.
struct Relay {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    accepting: JoinHandle<()>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accepting = tokio::spawn({
            let (target, links) = (target.clone(), links.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let to = *target.lock().unwrap();
                    let link = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(to).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    links.lock().unwrap().push(link.abort_handle());
                }
            }
        });
        Self {
            addr,
            target,
            links,
            accepting,
        }
    }

    /// Closes every open connection at once.
    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Sends new connections to `target`.
    fn switch_to(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}

async fn the_event_watcher_bridges_a_cut_connection_and_a_server_restart_without_gaps_or_duplicates(
    db: Db,
) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "premium-10").await.name;
    let activate = |device: usize| {
        let (app, token, subscription) = (&app, &token, &subscription);
        async move {
            app.activate(token, subscription, &format!("pc-{device}"))
                .await
                .expect("a seat is free");
        }
    };
    for device in 0..3 {
        activate(device).await;
    }
    // The watcher talks to a replica through the relay; the changes go to `app`, so the
    // replica learns of them by polling, as it would of another replica's commits.
    let first = Replica::start(&app.database_url).await;
    let relay = Relay::start(first.addr).await;
    let channel = tessera_client::connect(format!("http://{}", relay.addr))
        .await
        .unwrap();
    let patient = RetryPolicy {
        max_attempts: 100,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
        multiplier: 2.0,
    };
    let mut watcher =
        EventWatcher::new(channel, ADMIN_TOKEN, WatchFilter::default()).with_retry_policy(patient);
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(timeout(WAIT, watcher.next()).await.unwrap().unwrap());
    }

    // The connection breaks in the middle of the stream.
    relay.cut();
    for device in 3..5 {
        activate(device).await;
    }
    while seen.last().unwrap().sequence < 6 {
        seen.push(timeout(WAIT, watcher.next()).await.unwrap().unwrap());
    }

    // The replica restarts while the watcher waits for the next event.
    let (tell, mut told) = mpsc::unbounded_channel();
    let reading = tokio::spawn(async move {
        loop {
            let event = watcher
                .next()
                .await
                .expect("the watcher rides out the restart");
            let sequence = event.sequence;
            tell.send(event).unwrap();
            if sequence == 9 {
                return watcher;
            }
        }
    });
    first.stop().await;
    for device in 5..8 {
        activate(device).await;
    }
    let second = Replica::start(&app.database_url).await;
    relay.switch_to(second.addr);
    let watcher = timeout(WAIT, reading).await.unwrap().unwrap();
    while let Ok(event) = told.try_recv() {
        seen.push(event);
    }
    assert_eq!(sequences(&seen), (1..=9).collect::<Vec<_>>());
    assert_eq!(watcher.last_sequence(), 9);
    let devices: Vec<String> = seen[1..]
        .iter()
        .map(|e| e.seat.as_ref().unwrap().device_id.clone())
        .collect();
    let wanted: Vec<String> = (0..8).map(|d| format!("pc-{d}")).collect();
    assert_eq!(devices, wanted);
    second.stop().await;
    app.stop().await;
}

async fn the_event_watcher_gives_up_with_unavailable_once_the_server_stays_down(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, _) = app.sign_up(&email()).await;
    app.buy(&account, "deluxe-3").await;
    let brief = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        multiplier: 2.0,
    };
    let mut watcher = EventWatcher::new(app.channel.clone(), ADMIN_TOKEN, WatchFilter::default())
        .with_retry_policy(brief);
    let first = timeout(WAIT, watcher.next()).await.unwrap().unwrap();
    assert_eq!(first.sequence, 1);
    app.stop().await;
    let status = timeout(WAIT, watcher.next())
        .await
        .expect("the watcher gives up in time")
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(watcher.last_sequence(), 1);
}
