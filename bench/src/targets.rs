//! Where new devices take seats: the free seats of the seeded subscriptions, then those
//! of the subscriptions `CreateSubscription` made during the run, each round-robin so
//! that consecutive activations land on different subscriptions (as real ones do, and
//! without queueing for one subscription's lock). Every activation of the run takes
//! one, so none is refused for the seat limit.

use std::sync::Mutex;
use uuid::Uuid;

/// A free seat: the subscription and the index of the account that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The subscription.
    pub subscription: Uuid,
    /// Its account, as the seed numbers accounts.
    pub account: u64,
}

/// A subscription made during the run, with its free seats.
#[derive(Debug)]
struct Made {
    target: Target,
    free: u8,
}

#[derive(Debug)]
struct Pool {
    /// Extra seats taken on each seeded subscription.
    taken: Vec<u8>,
    /// Free seats a seeded subscription starts with.
    free: u8,
    /// Where the round-robin over the seeded subscriptions goes next.
    cursor: usize,
    /// Free seats left on the seeded subscriptions.
    remaining: u64,
    made: Vec<Made>,
    /// Where the round-robin over the made subscriptions goes next.
    made_cursor: usize,
    /// Free seats left on the made subscriptions.
    made_remaining: u64,
}

/// The free seats left, shared by every caller.
#[derive(Debug)]
pub struct SeatPool(Mutex<Pool>);

impl SeatPool {
    /// `seeded` subscriptions with `free` free seats each.
    pub fn new(seeded: u64, free: u8) -> Self {
        Self(Mutex::new(Pool {
            taken: vec![0; seeded as usize],
            free,
            cursor: 0,
            remaining: seeded * u64::from(free),
            made: Vec::new(),
            made_cursor: 0,
            made_remaining: 0,
        }))
    }

    /// More seeded subscriptions: there are `seeded` now.
    pub fn grow(&self, seeded: u64) {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let seeded = (seeded as usize).max(pool.taken.len());
        pool.remaining += (seeded - pool.taken.len()) as u64 * u64::from(pool.free);
        pool.taken.resize(seeded, 0);
    }

    /// A subscription made during the run, with `free` seats.
    pub fn add(&self, target: Target, free: u8) {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        pool.made.push(Made { target, free });
        pool.made_remaining += u64::from(free);
    }

    /// Takes a free seat, or `None` when every one is taken. `subscription_id` names the
    /// seeded subscriptions.
    pub fn take(&self, subscription_id: impl Fn(u64) -> Uuid) -> Option<Target> {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let seeded = pool.taken.len();
        while pool.remaining > 0 {
            let i = pool.cursor;
            pool.cursor = (i + 1) % seeded;
            if pool.taken[i] < pool.free {
                pool.taken[i] += 1;
                pool.remaining -= 1;
                let account = i as u64;
                return Some(Target {
                    subscription: subscription_id(account),
                    account,
                });
            }
        }
        while pool.made_remaining > 0 {
            let k = pool.made_cursor;
            pool.made_cursor = (k + 1) % pool.made.len();
            if pool.made[k].free > 0 {
                pool.made[k].free -= 1;
                pool.made_remaining -= 1;
                return Some(pool.made[k].target);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u64) -> Uuid {
        Uuid::from_u64_pair(0, i)
    }

    #[test]
    fn seats_go_round_robin_then_to_made_subscriptions_until_none_is_left() {
        let pool = SeatPool::new(3, 2);
        let accounts: Vec<u64> = (0..6).map(|_| pool.take(id).unwrap().account).collect();
        assert_eq!(accounts, [0, 1, 2, 0, 1, 2]);
        assert_eq!(pool.take(id), None);
        let made = Target {
            subscription: id(99),
            account: 1,
        };
        let other = Target {
            subscription: id(98),
            account: 2,
        };
        pool.add(made, 2);
        pool.add(other, 1);
        assert_eq!(pool.take(id), Some(made));
        assert_eq!(pool.take(id), Some(other));
        assert_eq!(pool.take(id), Some(made));
        assert_eq!(pool.take(id), None);
        pool.grow(4);
        assert_eq!(pool.take(id).unwrap().subscription, id(3));
        assert_eq!(pool.take(id).unwrap().account, 3);
        assert_eq!(pool.take(id), None);
    }
}
