//! Last-seen times, coalesced. A device's check-in only moves its seat's `last_seen_at`;
//! writing that on every check-in would make the most frequent call a durable write.
//! Instead the latest time per seat waits here and is written in batches, one
//! transaction per batch ([`super::CachedStore::flush_last_seen`], run every
//! `--last-seen-flush-seconds` and at shutdown).
//!
//! The bound: a crash loses at most one flush interval of last-seen times. They are
//! telemetry (which device was seen when, and which seats a downgrade frees first), not
//! acknowledged writes. This replica's reads show the pending times; other replicas see
//! them after the next flush.

use crate::domain::seat::Seat;
use chrono::{DateTime, Utc};
use std::{collections::HashMap, sync::Mutex};
use uuid::Uuid;

/// The pending last-seen times, by seat.
#[derive(Debug, Default)]
pub struct LastSeen {
    pending: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

impl LastSeen {
    /// Notes that the seat's device checked in at `at`.
    pub fn record(&self, seat_id: Uuid, at: DateTime<Utc>) {
        let mut pending = self.lock();
        let latest = pending.entry(seat_id).or_insert(at);
        *latest = (*latest).max(at);
    }

    /// The seat's pending time, if any.
    pub fn of(&self, seat_id: Uuid) -> Option<DateTime<Utc>> {
        self.lock().get(&seat_id).copied()
    }

    /// `seat` as this replica knows it: an active seat with its device's pending
    /// check-in, if that is later than the stored one.
    pub fn applied_to(&self, mut seat: Seat) -> Seat {
        if let Some(at) = self.of(seat.id).filter(|_| seat.is_active()) {
            seat.last_seen_at = seat.last_seen_at.max(at);
        }
        seat
    }

    /// Takes every pending time, for a flush.
    pub fn take(&self) -> Vec<(Uuid, DateTime<Utc>)> {
        self.lock().drain().collect()
    }

    /// Puts back times whose flush failed, keeping any later ones recorded meanwhile.
    pub fn restore(&self, times: Vec<(Uuid, DateTime<Utc>)>) {
        for (seat_id, at) in times {
            self.record(seat_id, at);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, DateTime<Utc>>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn the_latest_time_per_seat_waits_for_the_flush() {
        let seen = LastSeen::default();
        let seat = Uuid::now_v7();
        let t0 = Utc::now();
        seen.record(seat, t0 + Duration::seconds(5));
        seen.record(seat, t0);
        assert_eq!(seen.of(seat), Some(t0 + Duration::seconds(5)));
        let batch = seen.take();
        assert_eq!(batch, vec![(seat, t0 + Duration::seconds(5))]);
        assert_eq!(seen.of(seat), None);
        seen.record(seat, t0 + Duration::seconds(9));
        seen.restore(batch);
        assert_eq!(seen.of(seat), Some(t0 + Duration::seconds(9)));
    }
}
