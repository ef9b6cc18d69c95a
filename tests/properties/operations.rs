//! Playing a case: each operation as a use case of the service layer, what its outcome
//! may be given what was seen before it, and the invariants after it.

use crate::scenario::{NAMES, Op, Setup};
use crate::world::{Outcome, World, refusal_or, short};
use chrono::Duration;
use std::{collections::HashSet, fmt::Write as _};
use tessera::{
    Error,
    domain::{
        catalog::Catalog,
        clock::ManualClock,
        seat::{NewSeat, Seat},
        subscription::{DowngradePolicy, Renewal},
    },
    error::Reason,
    service::{Services, seats::Activation},
};
use uuid::Uuid;

impl World {
    async fn step(&mut self, op: &Op) -> Outcome {
        let mut cancelled_now = None;
        match *op {
            Op::Activate {
                sub,
                device,
                platform,
            } => {
                let device_id = format!("device-{device}");
                let before = self.active_seats(sub).await?;
                let held = before.iter().any(|s| s.device_id == device_id);
                let new = NewSeat {
                    device_id: device_id.clone(),
                    platform,
                    display_name: format!("Device {device}"),
                };
                let result = self
                    .services
                    .activate_seat(self.customer(), self.ids[sub], new)
                    .await;
                self.log(format!(
                    "activate {device_id} on {} -> {}",
                    NAMES[sub],
                    short(&result)
                ));
                let status = self.seen[sub].status;
                match refusal_or("activate_seat", result)? {
                    Ok(Activation {
                        seat, newly_taken, ..
                    }) => {
                        if newly_taken == held {
                            return Err(format!(
                                "activate {device_id}: newly_taken={newly_taken} while the device \
                                 already held a seat: {held}"
                            ));
                        }
                        if seat.device_id != device_id || !seat.is_active() {
                            return Err(format!("activate {device_id}: got {seat:?}"));
                        }
                        if !status.takes_seats() {
                            return Err(format!("activate {device_id}: taken on a {status:?}"));
                        }
                    }
                    Err(Error::SeatLimitReached { limit, held: list }) => {
                        if held || (list.len() as i64) < limit || !status.takes_seats() {
                            return Err(format!(
                                "activate {device_id}: refused as full with {} of {limit} \
                                 seats held (device held one: {held}, status {status:?})",
                                list.len()
                            ));
                        }
                    }
                    Err(Error::FailedPrecondition { reason, .. }) => {
                        if status.takes_seats() {
                            return Err(format!(
                                "activate {device_id}: refused {reason} on a {status:?}"
                            ));
                        }
                    }
                    Err(error) => return Err(format!("activate {device_id}: {error:?}")),
                }
            }
            Op::Deactivate { sub, ref seat } => {
                let Some(seat) = self.pick_seat(sub, seat).await? else {
                    self.log(format!("deactivate on {}: no seat yet", NAMES[sub]));
                    return Ok(());
                };
                let result = self
                    .services
                    .deactivate_seat(self.customer(), self.ids[sub], seat.id)
                    .await;
                self.log(format!(
                    "deactivate {} on {} -> {}",
                    seat.device_id,
                    NAMES[sub],
                    short(&result)
                ));
                if let Ok(freed) = refusal_or("deactivate_seat", result)?
                    && freed.is_active()
                {
                    return Err(format!("deactivate: still active: {freed:?}"));
                }
            }
            Op::CheckIn { sub, ref seat } => {
                let Some(seat) = self.pick_seat(sub, seat).await? else {
                    self.log(format!("check in on {}: no seat yet", NAMES[sub]));
                    return Ok(());
                };
                let result = self.services.check_protection(seat.id, self.ids[sub]).await;
                self.log(format!(
                    "check in {} on {} -> {}",
                    seat.device_id,
                    NAMES[sub],
                    short(&result)
                ));
                refusal_or("check_protection", result)?.ok();
            }
            Op::ChangePlan { sub, plan, policy } => {
                let plan = Catalog::embedded().plan(plan).expect("a catalog plan");
                let before = self.active_seats(sub).await?;
                let excess = (before.len() as i64 - plan.seat_limit).max(0);
                let status = self.seen[sub].status;
                let result = self
                    .services
                    .change_plan(self.seller(sub), self.ids[sub], plan.clone(), policy, None)
                    .await;
                self.log(format!(
                    "change {} to {} ({policy:?}) -> {}",
                    NAMES[sub],
                    plan.code,
                    short(&result)
                ));
                match refusal_or("change_plan", result)? {
                    Ok(change) => {
                        let change = change.value;
                        if status.is_final() || (excess > 0 && policy == DowngradePolicy::Reject) {
                            return Err(format!(
                                "change to {}: done on a {status:?} with {} active seats",
                                plan.code,
                                before.len()
                            ));
                        }
                        if change.deactivated_seats != excess {
                            return Err(format!(
                                "change to {}: freed {} seats, {excess} over the limit",
                                plan.code, change.deactivated_seats
                            ));
                        }
                        // The seats freed are those of the devices seen least recently.
                        let after = self.active_seats(sub).await?;
                        let kept: HashSet<Uuid> = after.iter().map(|s| s.id).collect();
                        let order = |s: &Seat| (s.last_seen_at, s.id);
                        let freed = before.iter().filter(|s| !kept.contains(&s.id)).map(order);
                        let oldest_kept = after.iter().map(order).min();
                        if let (Some(freed), Some(kept)) = (freed.max(), oldest_kept)
                            && freed > kept
                        {
                            return Err(format!(
                                "change to {}: freed a seat seen at {} but kept one seen at {}",
                                plan.code, freed.0, kept.0
                            ));
                        }
                        self.log(format!("  freed {excess} seats"));
                    }
                    Err(Error::FailedPrecondition { reason, .. }) => {
                        let justified = match reason {
                            Reason::SubscriptionEnded => status.is_final(),
                            Reason::SeatLimitBelowActiveSeats => {
                                excess > 0 && policy == DowngradePolicy::Reject
                            }
                            _ => false,
                        };
                        if !justified {
                            return Err(format!(
                                "change to {}: refused {reason} on a {status:?} with {} \
                                 active seats",
                                plan.code,
                                before.len()
                            ));
                        }
                    }
                    Err(error) => return Err(format!("change to {}: {error:?}", plan.code)),
                }
            }
            Op::SetSuspended { sub, suspended } => {
                let result = self
                    .services
                    .set_suspended(self.seller(sub), self.ids[sub], suspended, None)
                    .await;
                self.log(format!(
                    "{} {} -> {}",
                    if suspended { "suspend" } else { "resume" },
                    NAMES[sub],
                    short(&result)
                ));
                refusal_or("set_suspended", result)?.ok();
            }
            Op::Cancel { sub, immediately } => {
                let result = self
                    .services
                    .cancel_subscription(self.seller(sub), self.ids[sub], immediately, None)
                    .await;
                self.log(format!(
                    "cancel {} {} -> {}",
                    NAMES[sub],
                    if immediately { "now" } else { "at period end" },
                    short(&result)
                ));
                if refusal_or("cancel_subscription", result)?.is_ok() {
                    cancelled_now = Some(sub);
                }
            }
            Op::Renew {
                sub,
                until_days_after_end,
            } => {
                let renewal = match until_days_after_end {
                    None => Renewal::OneTerm,
                    Some(days) => Renewal::Until(self.seen[sub].term_end + Duration::days(days)),
                };
                let result = self
                    .services
                    .renew_subscription(self.seller(sub), self.ids[sub], renewal, None)
                    .await;
                self.log(format!(
                    "renew {} {renewal:?} -> {}",
                    NAMES[sub],
                    short(&result)
                ));
                refusal_or("renew_subscription", result)?.ok();
            }
            Op::Advance { hours, worker } => {
                self.clock.advance(Duration::hours(hours));
                self.log(format!("advance {hours} h to {}", self.now()));
                if worker {
                    return self.run_worker().await;
                }
            }
            Op::Apply { from, ref seat } => {
                let to = 1 - from;
                let Some(seat) = self.pick_seat(from, seat).await? else {
                    self.log(format!("apply from {}: no seat yet", NAMES[from]));
                    return Ok(());
                };
                let result = self
                    .services
                    .apply_subscription(self.customer(), self.ids[from], seat.id, self.ids[to])
                    .await;
                self.log(format!(
                    "apply {} from {} to {} -> {}",
                    seat.device_id,
                    NAMES[from],
                    NAMES[to],
                    short(&result)
                ));
                if let Ok(moved) = refusal_or("apply_subscription", result)?
                    && (moved.subscription_id != self.ids[to]
                        || moved.device_id != seat.device_id
                        || !moved.is_active())
                {
                    return Err(format!("apply: moved to {moved:?}"));
                }
            }
        }
        self.verify(cancelled_now).await
    }
}

/// Plays a scenario through `services`, whose clock is `clock` and shows the setup's
/// start; returns the trace with the first failure.
pub async fn play(services: &Services, clock: &ManualClock, setup: &Setup, ops: &[Op]) -> Outcome {
    let mut world = World::create(services.clone(), clock.clone(), setup).await?;
    let _ = writeln!(
        world.trace,
        "  start {}: direct {} (auto-renew {}), carrier {} from {:+} days",
        setup.start,
        setup.direct_plan,
        setup.direct_auto_renew,
        setup.carrier_plan,
        setup.carrier_start_days
    );
    for op in ops {
        if let Err(failure) = world.step(op).await {
            return Err(format!("{failure}\nafter:\n{}", world.trace));
        }
    }
    Ok(())
}
