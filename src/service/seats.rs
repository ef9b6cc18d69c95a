//! Seats: activating and removing devices, listing them, the device's check-in ("am I
//! protected?") and moving a device to another subscription of its account.

use super::Services;
use crate::{
    domain::{
        page::{Page, PageRequest},
        principal::{Principal, Scope},
        protection::{self, Verdict},
        seat::{NewSeat, Seat, SeatClaim},
        secret::{TokenKind, new_token, token_hash},
        subscription::Subscription,
    },
    error::{Error, Resource, Result},
};
use uuid::Uuid;

/// A device's seat and its fresh token.
#[derive(Debug, Clone)]
pub struct Activation {
    /// The seat the device holds.
    pub seat: Seat,
    /// A fresh device token for it, shown once.
    pub device_token: String,
    /// False when the device already held the seat.
    pub newly_taken: bool,
}

/// What a device is told when it checks in.
#[derive(Debug, Clone)]
pub enum CheckIn {
    /// The device holds its seat: its protection.
    Seated(Box<Protection>),
    /// The device's seat was removed: it is not protected, and learns nothing more.
    Removed(Verdict),
}

/// What a device that holds its seat is told when it checks in.
#[derive(Debug, Clone)]
pub struct Protection {
    /// Its seat.
    pub seat: Seat,
    /// The seat's subscription.
    pub subscription: Subscription,
    /// The verdict, warnings and actions.
    pub verdict: Verdict,
    /// The account's other subscriptions the device could move to.
    pub alternatives: Vec<Subscription>,
}

/// Partners see counts, never devices: for them seats do not exist.
fn devices_visible_to(principal: Principal) -> Result<()> {
    if principal.sees_devices() {
        Ok(())
    } else {
        Err(Error::NotFound(Resource::Subscription))
    }
}

/// A device may act only on its own seat.
fn own_seat(principal: Principal, seat_id: Uuid) -> Result<()> {
    match principal {
        Principal::Device { seat_id: own, .. } if own != seat_id => {
            Err(Error::NotFound(Resource::Seat))
        }
        _ => Ok(()),
    }
}

impl Services {
    /// Seats a device on a subscription (or finds the seat it holds) and issues a device
    /// token for it. Errors: `NotFound`; `FailedPrecondition` (SUBSCRIPTION_NOT_ACTIVE);
    /// `SeatLimitReached` with the devices holding the seats.
    pub async fn activate_seat(
        &self,
        principal: Principal,
        subscription_id: Uuid,
        device: NewSeat,
    ) -> Result<Activation> {
        let activation = self.seat(principal, subscription_id, device).await;
        match &activation {
            Ok(activation) => self.metrics.seat_activated(activation.newly_taken),
            Err(error) => self.metrics.seat_refused(error.reason()),
        }
        activation
    }

    /// [`Self::activate_seat`], unmeasured.
    async fn seat(
        &self,
        principal: Principal,
        subscription_id: Uuid,
        device: NewSeat,
    ) -> Result<Activation> {
        devices_visible_to(principal)?;
        let mut unit = self.begin(Some(principal), None).await?;
        let mut subscription = unit
            .tx
            .lock_subscription(principal.scope(), subscription_id)
            .await?;
        let active = unit.tx.active_seats(subscription_id).await?;
        let claim = subscription.seat_device(&device, &active, unit.now, &mut unit.events)?;
        if let SeatClaim::Taken(seat) = &claim {
            unit.tx.insert_seat(seat).await?;
            unit.tx.save_subscription(&subscription).await?;
        }
        let device_token = new_token(TokenKind::Device);
        unit.tx
            .insert_device_token(&token_hash(&device_token), claim.seat().id, unit.now)
            .await?;
        unit.commit().await?;
        let newly_taken = matches!(claim, SeatClaim::Taken(_));
        let (SeatClaim::Held(seat) | SeatClaim::Taken(seat)) = claim;
        Ok(Activation {
            seat,
            device_token,
            newly_taken,
        })
    }

    /// Frees a seat; freeing a freed seat returns it unchanged. A device may free only
    /// its own. Errors: `NotFound`.
    pub async fn deactivate_seat(
        &self,
        principal: Principal,
        subscription_id: Uuid,
        seat_id: Uuid,
    ) -> Result<Seat> {
        devices_visible_to(principal)?;
        own_seat(principal, seat_id)?;
        let mut unit = self.begin(Some(principal), None).await?;
        let mut subscription = unit
            .tx
            .lock_subscription(principal.scope(), subscription_id)
            .await?;
        let mut seat = unit.tx.seat_in(subscription_id, seat_id).await?;
        if seat.is_active() {
            subscription.release_seat(&mut seat, unit.now, &mut unit.events);
            unit.tx.save_seat(&seat).await?;
            unit.tx.save_subscription(&subscription).await?;
        }
        unit.commit().await?;
        Ok(seat)
    }

    /// A subscription's seats, oldest first. Devices and partners see none.
    /// Errors: `NotFound` (Subscription).
    pub async fn list_seats(
        &self,
        principal: Principal,
        subscription_id: Uuid,
        show_deactivated: bool,
        page: &PageRequest,
    ) -> Result<Page<Seat>> {
        if matches!(principal, Principal::Partner(_) | Principal::Device { .. }) {
            return Err(Error::NotFound(Resource::Subscription));
        }
        self.store
            .list_seats(principal.scope(), subscription_id, show_deactivated, page)
            .await
    }

    /// A device checks in: records when it was last seen and judges its protection. A
    /// device whose seat was removed learns that it is not protected, and nothing more:
    /// neither its subscription, nor its term, nor its seat.
    pub async fn check_protection(&self, seat_id: Uuid, subscription_id: Uuid) -> Result<CheckIn> {
        let now = self.now();
        // The device's own seat and subscription, whether or not it still holds the seat.
        let own = Scope::Subscription(subscription_id);
        let mut seat = self.store.seat(own, subscription_id, seat_id).await?;
        if !seat.is_active() {
            return Ok(CheckIn::Removed(protection::seat_removed()));
        }
        self.store.record_last_seen(&[(seat_id, now)]).await?;
        seat.last_seen_at = seat.last_seen_at.max(now);
        let subscription = self.store.subscription(own, subscription_id).await?;
        // The account's other subscriptions that would take this device, longest-running
        // first: the store selects them, the seat rule has the last word.
        let alternatives: Vec<Subscription> = match subscription.account_id {
            Some(account) => self
                .store
                .subscriptions_with_free_seat(Scope::Account(account), account)
                .await?
                .into_iter()
                .filter(|other| other.id != subscription.id && other.admits_seat(&[]).is_ok())
                .collect(),
            None => Vec::new(),
        };
        let verdict = protection::judge(
            &seat,
            &subscription,
            now,
            self.policy.warning_window,
            self.policy.grace,
            !alternatives.is_empty(),
        );
        Ok(CheckIn::Seated(Box::new(Protection {
            seat,
            subscription,
            verdict,
            alternatives,
        })))
    }

    /// What the devices on each of an account's subscriptions are told (the account
    /// page's view of "am I protected?"), newest subscription first, each with the
    /// account's other subscriptions its devices could move to.
    /// Errors: `NotFound` (Account) for another account's.
    pub async fn account_protection(
        &self,
        principal: Principal,
        account_id: Uuid,
    ) -> Result<Vec<(Subscription, Verdict, Vec<Subscription>)>> {
        self.store.account(principal.scope(), account_id).await?;
        let now = self.now();
        let subscriptions = self
            .store
            .account_subscriptions(principal.scope(), account_id)
            .await?;
        let with_free_seat = self
            .store
            .subscriptions_with_free_seat(principal.scope(), account_id)
            .await?;
        Ok(subscriptions
            .into_iter()
            .map(|subscription| {
                let alternatives: Vec<Subscription> = with_free_seat
                    .iter()
                    .filter(|other| other.id != subscription.id && other.admits_seat(&[]).is_ok())
                    .cloned()
                    .collect();
                let verdict = protection::judge_subscription(
                    &subscription,
                    now,
                    self.policy.warning_window,
                    self.policy.grace,
                    !alternatives.is_empty(),
                );
                (subscription, verdict, alternatives)
            })
            .collect())
    }

    /// Moves a device's seat to another subscription of the same account; its tokens
    /// follow it. Both subscriptions are locked in id order, so concurrent moves cannot
    /// deadlock. Errors: `NotFound`; `InvalidArgument`; `FailedPrecondition`
    /// (SUBSCRIPTION_NOT_ACTIVE, SEAT_NOT_ACTIVE); `SeatLimitReached`.
    pub async fn apply_subscription(
        &self,
        principal: Principal,
        from: Uuid,
        seat_id: Uuid,
        to: Uuid,
    ) -> Result<Seat> {
        devices_visible_to(principal)?;
        own_seat(principal, seat_id)?;
        let mut unit = self.begin(Some(principal), None).await?;
        // The target is reached through the source: same account, checked by the rule.
        let (mut source, mut target) = if from <= to {
            let source = unit.tx.lock_subscription(principal.scope(), from).await?;
            let target = unit.tx.lock_subscription(Scope::All, to).await?;
            (source, target)
        } else {
            let target = unit.tx.lock_subscription(Scope::All, to).await?;
            let source = unit.tx.lock_subscription(principal.scope(), from).await?;
            (source, target)
        };
        let mut seat = unit.tx.seat_in(from, seat_id).await?;
        let target_active = unit.tx.active_seats(to).await?;
        let claim = source.move_seat(
            &mut seat,
            &mut target,
            &target_active,
            unit.now,
            &mut unit.events,
        )?;
        if let SeatClaim::Taken(taken) = &claim {
            unit.tx.insert_seat(taken).await?;
            unit.tx.save_subscription(&target).await?;
        }
        unit.tx.save_seat(&seat).await?;
        unit.tx.save_subscription(&source).await?;
        unit.tx.move_device_tokens(seat.id, claim.seat().id).await?;
        unit.commit().await?;
        let (SeatClaim::Held(moved) | SeatClaim::Taken(moved)) = claim;
        Ok(moved)
    }
}
