//! The seat rules: a subscription admits a new device only while it takes devices and
//! has a free seat; a device holds at most one seat of a subscription (re-activating
//! never takes a second); a device moves only between subscriptions of one account.

use super::Subscription;
use crate::{
    domain::{
        event::{EventType, NewEvent},
        names,
        seat::{NewSeat, Seat, SeatClaim},
    },
    error::{Error, HeldSeat, Reason, Resource, Result},
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl Subscription {
    /// Refuses new devices unless the subscription takes them in its status.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_NOT_ACTIVE).
    pub fn ensure_takes_devices(&self) -> Result<()> {
        if !self.status.takes_seats() {
            return Err(Error::precondition(
                Reason::SubscriptionNotActive,
                format!(
                    "the subscription is {} and takes no new devices",
                    self.status.lower()
                ),
            ));
        }
        Ok(())
    }

    /// Whether one more device fits: the subscription takes devices and a seat is free.
    /// `active` are its active seats, listed to the caller when it is full.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_NOT_ACTIVE); `SeatLimitReached` with
    /// the devices holding the seats.
    pub fn admits_seat(&self, active: &[Seat]) -> Result<()> {
        self.ensure_takes_devices()?;
        if self.active_seats >= self.seat_limit {
            return Err(Error::SeatLimitReached {
                limit: self.seat_limit,
                held: active
                    .iter()
                    .filter(|seat| seat.is_active())
                    .map(|seat| HeldSeat {
                        name: names::seat(seat.subscription_id, seat.id),
                        device_id: seat.device_id.clone(),
                        display_name: seat.display_name.clone(),
                    })
                    .collect(),
            });
        }
        Ok(())
    }

    /// Seats a device: the seat it already holds here (re-activating never takes a
    /// second seat), or a new one within the limit. Records SEAT_ACTIVATED for a new one.
    /// Errors: as [`Self::admits_seat`].
    pub fn seat_device(
        &mut self,
        device: &NewSeat,
        active: &[Seat],
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<SeatClaim> {
        self.ensure_takes_devices()?;
        if let Some(held) = active
            .iter()
            .find(|seat| seat.is_active() && seat.device_id == device.device_id)
        {
            return Ok(SeatClaim::Held(held.clone()));
        }
        let seat = self.take_seat(device, active, now)?;
        events.push(NewEvent::of(EventType::SeatActivated, self).with_seat(&seat));
        Ok(SeatClaim::Taken(seat))
    }

    fn take_seat(&mut self, device: &NewSeat, active: &[Seat], now: DateTime<Utc>) -> Result<Seat> {
        self.admits_seat(active)?;
        self.active_seats += 1;
        self.updated_at = now;
        Ok(Seat {
            id: Uuid::now_v7(),
            subscription_id: self.id,
            device_id: device.device_id.clone(),
            platform: device.platform,
            display_name: device.display_name.clone(),
            activated_at: now,
            last_seen_at: now,
            deactivated_at: None,
        })
    }

    /// Frees a seat of this subscription; freeing a freed seat changes nothing.
    /// Records SEAT_DEACTIVATED.
    pub fn release_seat(
        &mut self,
        seat: &mut Seat,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) {
        if !seat.is_active() || seat.subscription_id != self.id {
            return;
        }
        seat.deactivated_at = Some(now);
        self.active_seats -= 1;
        self.updated_at = now;
        events.push(NewEvent::of(EventType::SeatDeactivated, self).with_seat(seat));
    }

    /// Moves a device's seat from this subscription to `target`, another subscription of
    /// the same account, within the target's limit; a device already seated there keeps
    /// that seat. Records SEAT_MOVED (on the target, for a new seat) and SEAT_DEACTIVATED.
    /// Errors: `NotFound` (Subscription) when the two are not of one account;
    /// `InvalidArgument` (subscription) for a move onto itself; `FailedPrecondition`
    /// (SEAT_NOT_ACTIVE, SUBSCRIPTION_NOT_ACTIVE); `SeatLimitReached`.
    pub fn move_seat(
        &mut self,
        seat: &mut Seat,
        target: &mut Subscription,
        target_active: &[Seat],
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<SeatClaim> {
        if self.account_id.is_none() || target.account_id != self.account_id {
            return Err(Error::NotFound(Resource::Subscription));
        }
        if target.id == self.id {
            return Err(Error::invalid(
                "subscription",
                "the device already uses this subscription",
            ));
        }
        if !seat.is_active() {
            return Err(Error::precondition(
                Reason::SeatNotActive,
                "this device's seat was removed; activate the device instead",
            ));
        }
        target.ensure_takes_devices()?;
        let device = NewSeat::of(seat);
        let claim = match target_active
            .iter()
            .find(|held| held.is_active() && held.device_id == device.device_id)
        {
            Some(held) => SeatClaim::Held(held.clone()),
            None => {
                let taken = target.take_seat(&device, target_active, now)?;
                events.push(
                    NewEvent::of(EventType::SeatMoved, target)
                        .with_seat(&taken)
                        .with_detail("from_subscription", names::subscription(self.id)),
                );
                SeatClaim::Taken(taken)
            }
        };
        self.release_seat(seat, now, events);
        Ok(claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{seat::Platform, subscription::direct_subscription};

    fn device(id: &str) -> NewSeat {
        NewSeat {
            device_id: id.to_owned(),
            platform: Platform::Windows,
            display_name: id.to_owned(),
        }
    }

    #[test]
    fn a_full_subscription_lists_its_devices_and_a_seated_device_takes_no_second_seat() {
        let mut s = direct_subscription("standard-1");
        let mut events = Vec::new();
        let now = Utc::now();
        let first = s.seat_device(&device("a"), &[], now, &mut events).unwrap();
        let active = vec![first.seat().clone()];
        assert!(matches!(
            s.seat_device(&device("a"), &active, now, &mut events),
            Ok(SeatClaim::Held(_))
        ));
        match s.seat_device(&device("b"), &active, now, &mut events) {
            Err(Error::SeatLimitReached { limit: 1, held }) => assert_eq!(held.len(), 1),
            other => panic!("expected a full subscription, got {other:?}"),
        }
        assert_eq!(s.active_seats, 1);
    }
}
