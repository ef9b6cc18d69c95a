//! Moving a device between subscriptions of one account ("apply subscription").

use super::{
    Store,
    rows::{self, subscription_columns},
};
use crate::{
    domain::{
        access::Access,
        event::EventType,
        seat::{NewSeat, Seat},
        subscription::Subscription,
    },
    error::{Error, Result},
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl Store {
    /// The account's ACTIVE or TRIAL subscriptions with a free seat, other than `except`.
    pub async fn subscriptions_with_free_seat(
        &self,
        account_id: Uuid,
        except: Uuid,
    ) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            subscription_columns!(),
            " FROM subscriptions s WHERE s.account_id = $1 AND s.id <> $2",
            " AND s.status IN ('ACTIVE', 'TRIAL') AND s.active_seats < s.seat_limit",
            " ORDER BY s.term_end DESC, s.id"
        ))
        .bind(account_id.to_string())
        .bind(except.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::subscription).collect()
    }

    /// Moves a device's seat from one subscription of an account to another, within the
    /// target's limit; the device's tokens follow it. Both subscriptions are locked in id
    /// order, so concurrent moves cannot deadlock.
    /// Errors: `NotFound` (either side not visible, or not the same account);
    /// `FailedPrecondition` (SUBSCRIPTION_NOT_ACTIVE, SEAT_NOT_ACTIVE);
    /// `SeatLimitReached`.
    pub async fn apply_subscription(
        &self,
        access: Access,
        from: Uuid,
        seat_id: Uuid,
        to: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Seat> {
        if matches!(access, Access::Partner(_)) {
            return Err(Error::NotFound("subscription"));
        }
        if matches!(access, Access::Device { seat_id: own, .. } if own != seat_id) {
            return Err(Error::NotFound("seat"));
        }
        let mut tx = self.begin_write(Some(access), None, now).await?;
        let (first, second) = if from < to { (from, to) } else { (to, from) };
        let mut locked = Vec::new();
        for id in [first, second] {
            if id == from {
                locked.push(self.lock_subscription(&mut tx, access, id).await?);
            } else {
                locked.push(self.lock_subscription_internal(&mut tx, id).await?);
            }
        }
        let (mut source, mut target) = if locked[0].id == from {
            (locked.remove(0), locked.remove(0))
        } else {
            let target = locked.remove(0);
            (locked.remove(0), target)
        };
        if source.account_id.is_none() || target.account_id != source.account_id {
            return Err(Error::NotFound("subscription"));
        }
        if from == to {
            return Err(Error::invalid(
                "subscription",
                "the device already uses this subscription",
            ));
        }
        let seat = self.seat_in(&mut tx, from, seat_id).await?;
        if !seat.is_active() {
            return Err(Error::precondition(
                "SEAT_NOT_ACTIVE",
                "this device's seat was removed; activate the device instead",
            ));
        }
        if !target.status.takes_seats() {
            return Err(Error::precondition(
                "SUBSCRIPTION_NOT_ACTIVE",
                format!(
                    "the target subscription is {} and takes no new devices",
                    target.status.as_str().to_lowercase()
                ),
            ));
        }
        let moved = match self
            .active_seat_of_device(&mut tx, to, &seat.device_id)
            .await?
        {
            Some(existing) => existing,
            None => {
                let new = NewSeat {
                    device_id: seat.device_id.clone(),
                    platform: seat.platform,
                    display_name: seat.display_name.clone(),
                };
                let taken = self.take_seat(&mut tx, &target, &new, now).await?;
                target.active_seats += 1;
                tx.emit(
                    EventType::SeatMoved,
                    &target,
                    Some(&taken),
                    &[("from_subscription", format!("subscriptions/{from}"))],
                );
                taken
            }
        };
        self.release_seat(&mut tx, &mut source, &seat, now).await?;
        sqlx::query("UPDATE device_tokens SET seat_id = $2 WHERE seat_id = $1")
            .bind(seat.id.to_string())
            .bind(moved.id.to_string())
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(moved)
    }
}
