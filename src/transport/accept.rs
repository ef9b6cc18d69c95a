//! What the accept loop does when `accept` fails. Running out of file descriptors
//! (`EMFILE`, `ENFILE`) or of socket memory leaves the pending connection in the backlog,
//! so retrying at once fails again at once: a loop that does spins a core and serves no
//! one. Instead the loop pauses, from 10 ms doubling up to 1 s, until an `accept`
//! succeeds, and warns once per such episode. Errors that concern only the connection
//! being accepted (it was reset or aborted before we took it) are retried at once.

use std::{io, time::Duration};

/// The first pause after a failed `accept`.
pub const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause between two tries.
pub const MAX_PAUSE: Duration = Duration::from_secs(1);

/// Why `accept` failed, as far as the loop cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptFailure {
    /// The process or the system ran out of file descriptors.
    DescriptorsExhausted,
    /// The kernel ran out of memory for sockets.
    MemoryExhausted,
    /// The connection went away before it was accepted; the next one may be fine.
    ConnectionGone,
    /// Anything else: paused too, since retrying at once could spin.
    Other,
}

impl AcceptFailure {
    /// The failure `error` stands for.
    pub fn of(error: &io::Error) -> Self {
        match error.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE) => Self::DescriptorsExhausted,
            Some(libc::ENOBUFS | libc::ENOMEM) => Self::MemoryExhausted,
            Some(libc::ECONNABORTED | libc::ECONNRESET | libc::EPROTO | libc::EPERM) => {
                Self::ConnectionGone
            }
            _ if error.kind() == io::ErrorKind::Interrupted => Self::ConnectionGone,
            _ => Self::Other,
        }
    }
}

/// The accept loop's state between failures: the next pause, and whether this episode
/// was reported.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    pause: Option<Duration>,
    failures: u64,
}

impl AcceptBackoff {
    /// Records a failed `accept`: how long to pause before the next one, if at all.
    pub fn failed(&mut self, error: &io::Error) -> Option<Duration> {
        let failure = AcceptFailure::of(error);
        if failure == AcceptFailure::ConnectionGone {
            tracing::debug!(%error, "a connection went away before it was accepted");
            return None;
        }
        self.failures += 1;
        let pause = match self.pause {
            None => {
                match failure {
                    AcceptFailure::DescriptorsExhausted => tracing::warn!(
                        %error,
                        "file descriptors exhausted: raise `ulimit -n` (README, Connections and \
                         file descriptors); pausing new connections until one is free"
                    ),
                    AcceptFailure::MemoryExhausted => tracing::warn!(
                        %error,
                        "the system is out of socket memory; pausing new connections"
                    ),
                    _ => tracing::warn!(%error, "accepting a connection failed; pausing"),
                }
                FIRST_PAUSE
            }
            Some(pause) => (pause * 2).min(MAX_PAUSE),
        };
        self.pause = Some(pause);
        Some(pause)
    }

    /// Records a successful `accept`, ending an episode of failures.
    pub fn succeeded(&mut self) {
        if self.pause.take().is_some() {
            tracing::info!(
                failed_attempts = self.failures,
                "accepting connections again"
            );
        }
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn running_out_of_descriptors_pauses_doubling_up_to_a_second() {
        let mut backoff = AcceptBackoff::default();
        let pauses: Vec<_> = (0..10)
            .map(|_| backoff.failed(&os(libc::EMFILE)).unwrap())
            .collect();
        assert_eq!(pauses[0], FIRST_PAUSE);
        assert_eq!(pauses[1], FIRST_PAUSE * 2);
        assert!(pauses.windows(2).all(|pair| pair[1] >= pair[0]));
        assert_eq!(*pauses.last().unwrap(), MAX_PAUSE);
    }

    #[test]
    fn a_success_ends_the_episode() {
        let mut backoff = AcceptBackoff::default();
        backoff.failed(&os(libc::ENFILE));
        backoff.failed(&os(libc::ENFILE));
        backoff.succeeded();
        assert_eq!(backoff.failed(&os(libc::EMFILE)), Some(FIRST_PAUSE));
    }

    #[test]
    fn a_connection_that_went_away_is_no_reason_to_pause() {
        let mut backoff = AcceptBackoff::default();
        assert_eq!(backoff.failed(&os(libc::ECONNABORTED)), None);
        assert_eq!(backoff.failed(&os(libc::EMFILE)), Some(FIRST_PAUSE));
    }
}
