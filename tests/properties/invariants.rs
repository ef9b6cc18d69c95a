//! The invariants, checked after every step and after every pass of the lifecycle worker
//! (the list is at the top of `main.rs`).

use crate::scenario::{CARRIER, DIRECT, NAMES};
use crate::world::{Outcome, World, must};
use std::collections::HashSet;
use tessera::{
    domain::{
        lifecycle::{self, TRANSITIONS},
        principal::Principal,
        subscription::Status,
    },
    service::lifecycle::Transitioned,
};

/// The grace period the worker is run with (the services' `grace_days`).
pub const GRACE_DAYS: u32 = 14;
/// Passes of the worker after which it is taken to be stuck.
const MAX_WORKER_PASSES: usize = 1_000;

impl World {
    /// Reads both subscriptions back and checks the invariants against what was seen
    /// before; `cancelled_now` names a subscription just cancelled with immediate effect.
    pub async fn verify(&mut self, cancelled_now: Option<usize>) -> Outcome {
        for sub in [DIRECT, CARRIER] {
            let name = NAMES[sub];
            let current = must(
                "get_subscription",
                self.services
                    .get_subscription(Principal::Admin, self.ids[sub])
                    .await,
            )?;
            let active = self.active_seats(sub).await?;
            let previous = &self.seen[sub];

            // (1) The seat limit, by the counter and by the seats themselves.
            if current.active_seats > current.seat_limit || current.active_seats < 0 {
                return Err(format!(
                    "{name}: active_seats {} outside 0..={}",
                    current.active_seats, current.seat_limit
                ));
            }
            if active.len() as i64 != current.active_seats {
                return Err(format!(
                    "{name}: active_seats says {} but {} seats are active",
                    current.active_seats,
                    active.len()
                ));
            }
            if active.len() as i64 > current.seat_limit {
                return Err(format!(
                    "{name}: {} active seats over a limit of {}",
                    active.len(),
                    current.seat_limit
                ));
            }
            if let Some(seat) = active
                .iter()
                .find(|s| !s.is_active() || s.subscription_id != current.id)
            {
                return Err(format!("{name}: listed as active: {seat:?}"));
            }

            // (2) Status changes only along the table.
            if current.status != previous.status
                && !TRANSITIONS
                    .iter()
                    .any(|(from, _, to)| *from == previous.status && *to == current.status)
            {
                return Err(format!(
                    "{name}: status went {:?} -> {:?}, which no transition allows",
                    previous.status, current.status
                ));
            }

            // (3) Term dates never go backwards.
            if current.term_start < previous.term_start {
                return Err(format!(
                    "{name}: term_start went back from {} to {}",
                    previous.term_start, current.term_start
                ));
            }
            let ended_at_cancellation = cancelled_now == Some(sub)
                && current.status == Status::Cancelled
                && previous.status != Status::Cancelled
                && current.term_end == previous.term_end.min(self.now()).max(previous.term_start);
            if current.term_end < previous.term_end && !ended_at_cancellation {
                return Err(format!(
                    "{name}: term_end went back from {} to {}",
                    previous.term_end, current.term_end
                ));
            }
            if current.term_start > current.term_end {
                return Err(format!(
                    "{name}: term starts {} after it ends {}",
                    current.term_start, current.term_end
                ));
            }

            // (4) One active seat per device.
            let mut devices = HashSet::new();
            if let Some(seat) = active.iter().find(|s| !devices.insert(s.device_id.clone())) {
                return Err(format!(
                    "{name}: device {} holds more than one active seat",
                    seat.device_id
                ));
            }

            self.seen[sub] = current;
        }
        Ok(())
    }

    /// Runs worker passes until one does nothing, checking every pass; then nothing of
    /// ours may be due any more.
    pub async fn run_worker(&mut self) -> Outcome {
        let grace = self.services.policy.grace;
        for _ in 0..MAX_WORKER_PASSES {
            let done: Vec<Transitioned> = must(
                "apply_due_transitions",
                self.services.apply_due_transitions(100).await,
            )?;
            if done.is_empty() {
                for sub in [DIRECT, CARRIER] {
                    if let Some(event) = lifecycle::due_event(&self.seen[sub], self.now(), grace) {
                        return Err(format!(
                            "{}: {event:?} is still due after the worker ran: {:?}",
                            NAMES[sub], self.seen[sub]
                        ));
                    }
                }
                return Ok(());
            }
            for transition in &done {
                let Some(sub) = self
                    .ids
                    .iter()
                    .position(|id| *id == transition.subscription.id)
                else {
                    continue; // another case's subscription (PostgreSQL runs share a database)
                };
                let from = self.seen[sub].status;
                let to = transition.subscription.status;
                self.log(format!(
                    "  worker: {} {:?} {from:?} -> {to:?}",
                    NAMES[sub], transition.event
                ));
                if lifecycle::next(from, transition.event) != Some(to) {
                    return Err(format!(
                        "{}: worker applied {:?} to {from:?} and got {to:?}",
                        NAMES[sub], transition.event
                    ));
                }
            }
            self.verify(None).await?;
        }
        Err(format!(
            "the worker was still busy after {MAX_WORKER_PASSES} passes"
        ))
    }
}
