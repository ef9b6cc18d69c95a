//! Password hashing on a small fixed pool of threads. argon2id is meant to be costly —
//! about 19 MiB of memory and tens of milliseconds of one core per hash — so it runs on
//! as many dedicated threads as there are cores, never on the async workers and never
//! on a thread per call: callers queue, and a call that waited in the queue longer than
//! the allowed time is refused with a retry delay instead of piling up. Each thread keeps
//! its work memory ([`HashMemory`]) for the next hash, so a burst of sign-ins leaves
//! behind the pool's few buffers, not one per concurrent call.

use crate::{
    domain::account::HashMemory,
    error::{Error, Reason, Result},
};
use std::{
    sync::{
        Arc, Mutex,
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

/// Calls that may wait in the queue per worker, whatever the wait: a bound on what
/// queued passwords hold in memory.
const QUEUE_PER_WORKER: usize = 64;

/// A job: run with a worker's memory, or dropped unrun (`None`) when it waited too long.
type Job = Box<dyn FnOnce(Option<&mut HashMemory>) + Send>;

/// The pool. Cheap to share; the threads stop when the last handle is dropped.
#[derive(Debug)]
pub struct PasswordPool {
    queue: SyncSender<(Instant, Job)>,
    workers: usize,
    queue_wait: Duration,
}

impl PasswordPool {
    /// Starts `workers` threads (the number of cores when 0); a call may wait at most
    /// `queue_wait` for one of them.
    pub fn start(workers: usize, queue_wait: Duration) -> Arc<Self> {
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (queue, jobs) = sync_channel::<(Instant, Job)>(workers * QUEUE_PER_WORKER);
        let jobs = Arc::new(Mutex::new(jobs));
        for index in 0..workers {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{index}"))
                .spawn(move || work(&jobs))
                .expect("the operating system starts a thread");
        }
        Arc::new(Self {
            queue,
            workers,
            queue_wait,
        })
    }

    /// How many threads hash.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Runs `hash` on a worker with its memory and returns what it returns.
    /// Errors: `Unavailable` (PASSWORD_HASHING_BUSY) with a retry delay when the queue is
    /// full or the call waited in it longer than allowed.
    pub async fn run<T: Send + 'static>(
        &self,
        hash: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            // Unrun (too late) or unwanted (the caller went away): drop the answer.
            if let Some(memory) = memory.filter(|_| !answer.is_closed()) {
                let _ = answer.send(hash(memory));
            }
        });
        let deadline = Instant::now() + self.queue_wait;
        match self.queue.try_send((deadline, job)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(self.busy()),
            Err(TrySendError::Disconnected(_)) => {
                return Err(Error::Internal("the password-hashing pool stopped".into()));
            }
        }
        answered.await.map_err(|_| self.busy())
    }

    fn busy(&self) -> Error {
        Error::Unavailable {
            reason: Reason::PasswordHashingBusy,
            message: "too many password checks at once: retry in a moment".to_owned(),
            retry_after: self.queue_wait.max(Duration::from_secs(1)),
        }
    }
}

/// A worker: takes jobs until the pool is dropped, running those still in time.
fn work(jobs: &Mutex<Receiver<(Instant, Job)>>) {
    let mut memory = HashMemory::default();
    loop {
        let next = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok((deadline, job)) = next else {
            return;
        };
        if Instant::now() <= deadline {
            job(Some(&mut memory));
        } else {
            job(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[tokio::test]
    async fn work_runs_on_the_pool_with_memory_it_keeps() {
        let pool = PasswordPool::start(1, Duration::from_secs(5));
        let thread = pool
            .run(|_| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert_eq!(thread.as_deref(), Some("password-hash-0"));
    }

    #[tokio::test]
    async fn a_call_that_waited_too_long_is_refused_with_a_retry_delay() {
        let pool = PasswordPool::start(1, Duration::from_millis(50));
        let (started, running) = mpsc::channel::<()>();
        let (release, held) = mpsc::channel::<()>();
        let blocker = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move |_| {
                    started.send(()).unwrap();
                    held.recv().unwrap()
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || running.recv().unwrap())
            .await
            .unwrap();
        // Queued behind the blocker, which holds the only worker past the deadline.
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|_| "ran").await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        let refused = waiting.await.unwrap().unwrap_err();
        assert_eq!(refused.reason(), Reason::PasswordHashingBusy);
        assert!(matches!(refused, Error::Unavailable { retry_after, .. }
            if retry_after >= Duration::from_secs(1)));
        assert_eq!(
            pool.run(|_| "ran").await.unwrap(),
            "ran",
            "the pool goes on"
        );
    }
}
