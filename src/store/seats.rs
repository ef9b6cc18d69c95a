//! Seats and device tokens. Taking a seat is one transaction that locks the
//! subscription, checks the limit and takes the seat; the `seats_within_limit` check
//! constraint and the one-active-seat-per-device index back it in the database.

use super::{
    Store, WriteTx, parse_uuid,
    rows::{self, seat_columns},
};
use crate::{
    domain::{
        access::Access,
        clock::to_micros,
        event::EventType,
        page::{Page, PageRequest},
        seat::{NewSeat, Seat},
        subscription::Subscription,
    },
    error::{Error, HeldSeat, Result},
};
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

/// Partners see counts, never devices: for them seats do not exist.
fn devices_visible_to(access: Access) -> Result<()> {
    match access {
        Access::Partner(_) => Err(Error::NotFound("subscription")),
        _ => Ok(()),
    }
}

impl Store {
    /// Takes a seat for a device, or returns the seat it already holds, and stores the
    /// hash of a new device token for it. Returns the seat and whether it was newly taken.
    /// Errors: `NotFound`; `FailedPrecondition` (SUBSCRIPTION_NOT_ACTIVE) unless the
    /// subscription is ACTIVE or TRIAL; `SeatLimitReached` with the current devices.
    pub async fn activate_seat(
        &self,
        access: Access,
        subscription_id: Uuid,
        new: &NewSeat,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(Seat, bool)> {
        devices_visible_to(access)?;
        let mut tx = self.begin_write(Some(access), None, now).await?;
        let mut subscription = self
            .lock_subscription(&mut tx, access, subscription_id)
            .await?;
        if !subscription.status.takes_seats() {
            return Err(Error::precondition(
                "SUBSCRIPTION_NOT_ACTIVE",
                format!(
                    "the subscription is {} and takes no new devices",
                    subscription.status.as_str().to_lowercase()
                ),
            ));
        }
        let (seat, newly_taken) = match self
            .active_seat_of_device(&mut tx, subscription_id, &new.device_id)
            .await?
        {
            Some(seat) => (seat, false),
            None => {
                let seat = self.take_seat(&mut tx, &subscription, new, now).await?;
                subscription.active_seats += 1;
                tx.emit(EventType::SeatActivated, &subscription, Some(&seat), &[]);
                (seat, true)
            }
        };
        sqlx::query(
            "INSERT INTO device_tokens (token_hash, seat_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash.to_owned())
        .bind(seat.id.to_string())
        .bind(to_micros(now))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok((seat, newly_taken))
    }

    pub(super) async fn active_seat_of_device(
        &self,
        tx: &mut WriteTx,
        subscription_id: Uuid,
        device_id: &str,
    ) -> Result<Option<Seat>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.subscription_id = $1 AND t.device_id = $2 \
             AND t.deactivated_at IS NULL"
        ))
        .bind(subscription_id.to_string())
        .bind(device_id.to_owned())
        .fetch_optional(tx.conn())
        .await?;
        row.as_ref().map(rows::seat).transpose()
    }

    pub(super) async fn take_seat(
        &self,
        tx: &mut WriteTx,
        subscription: &Subscription,
        new: &NewSeat,
        now: DateTime<Utc>,
    ) -> Result<Seat> {
        let counted = sqlx::query(
            "UPDATE subscriptions SET active_seats = active_seats + 1, updated_at = $2 \
             WHERE id = $1 AND active_seats < seat_limit",
        )
        .bind(subscription.id.to_string())
        .bind(to_micros(now))
        .execute(tx.conn())
        .await?;
        if counted.rows_affected() == 0 {
            let held = self.held_seats(tx, subscription.id).await?;
            return Err(Error::SeatLimitReached {
                limit: subscription.seat_limit,
                held,
            });
        }
        let seat = Seat {
            id: Uuid::now_v7(),
            subscription_id: subscription.id,
            device_id: new.device_id.clone(),
            platform: new.platform,
            display_name: new.display_name.clone(),
            activated_at: now,
            last_seen_at: now,
            deactivated_at: None,
        };
        sqlx::query(
            "INSERT INTO seats (id, subscription_id, device_id, platform, display_name, \
             activated_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(seat.id.to_string())
        .bind(seat.subscription_id.to_string())
        .bind(seat.device_id.clone())
        .bind(seat.platform.as_str())
        .bind(seat.display_name.clone())
        .bind(to_micros(now))
        .bind(to_micros(now))
        .execute(tx.conn())
        .await?;
        Ok(seat)
    }

    async fn held_seats(&self, tx: &mut WriteTx, subscription_id: Uuid) -> Result<Vec<HeldSeat>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.subscription_id = $1 AND t.deactivated_at IS NULL \
             ORDER BY t.activated_at, t.id"
        ))
        .bind(subscription_id.to_string())
        .fetch_all(tx.conn())
        .await?;
        rows.iter()
            .map(|row| {
                let seat = rows::seat(row)?;
                Ok(HeldSeat {
                    name: format!("subscriptions/{}/seats/{}", seat.subscription_id, seat.id),
                    device_id: seat.device_id,
                    display_name: seat.display_name,
                })
            })
            .collect()
    }

    /// Frees a seat. Freeing a freed seat returns it unchanged. A device may free only
    /// its own seat. Errors: `NotFound`.
    pub async fn deactivate_seat(
        &self,
        access: Access,
        subscription_id: Uuid,
        seat_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Seat> {
        devices_visible_to(access)?;
        if matches!(access, Access::Device { seat_id: own, .. } if own != seat_id) {
            return Err(Error::NotFound("seat"));
        }
        let mut tx = self.begin_write(Some(access), None, now).await?;
        let mut subscription = self
            .lock_subscription(&mut tx, access, subscription_id)
            .await?;
        let mut seat = self.seat_in(&mut tx, subscription_id, seat_id).await?;
        if seat.is_active() {
            self.release_seat(&mut tx, &mut subscription, &seat, now)
                .await?;
            seat.deactivated_at = Some(now);
        }
        tx.commit().await?;
        Ok(seat)
    }

    /// Within `tx`, with the subscription locked: frees an active seat, counts it off
    /// `subscription` and emits the event.
    pub(super) async fn release_seat(
        &self,
        tx: &mut WriteTx,
        subscription: &mut Subscription,
        seat: &Seat,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE seats SET deactivated_at = $2 WHERE id = $1")
            .bind(seat.id.to_string())
            .bind(to_micros(now))
            .execute(tx.conn())
            .await?;
        sqlx::query(
            "UPDATE subscriptions SET active_seats = active_seats - 1, updated_at = $2 \
             WHERE id = $1",
        )
        .bind(seat.subscription_id.to_string())
        .bind(to_micros(now))
        .execute(tx.conn())
        .await?;
        subscription.active_seats -= 1;
        let mut freed = seat.clone();
        freed.deactivated_at = Some(now);
        tx.emit(EventType::SeatDeactivated, subscription, Some(&freed), &[]);
        Ok(())
    }

    pub(super) async fn seat_in(
        &self,
        tx: &mut WriteTx,
        subscription_id: Uuid,
        seat_id: Uuid,
    ) -> Result<Seat> {
        let row = sqlx::query(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.id = $1 AND t.subscription_id = $2"
        ))
        .bind(seat_id.to_string())
        .bind(subscription_id.to_string())
        .fetch_optional(tx.conn())
        .await?
        .ok_or(Error::NotFound("seat"))?;
        rows::seat(&row)
    }

    /// A subscription's seats, oldest first.
    pub async fn list_seats(
        &self,
        access: Access,
        subscription_id: Uuid,
        show_deactivated: bool,
        page: &PageRequest,
    ) -> Result<Page<Seat>> {
        devices_visible_to(access)?;
        if matches!(access, Access::Device { .. }) {
            return Err(Error::NotFound("subscription"));
        }
        self.get_subscription(access, subscription_id).await?;
        let (after_time, after_id) = page.after.clone().unwrap_or_default();
        let rows = sqlx::query(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.subscription_id = $1",
            " AND ($2 = 1 OR t.deactivated_at IS NULL)",
            " AND ($4 = '' OR t.activated_at > $3 OR (t.activated_at = $3 AND t.id > $4))",
            " ORDER BY t.activated_at, t.id LIMIT $5"
        ))
        .bind(subscription_id.to_string())
        .bind(i64::from(show_deactivated))
        .bind(after_time)
        .bind(after_id)
        .bind(page.size + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(rows::seat).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size, |s| {
            (to_micros(s.activated_at), s.id.to_string())
        }))
    }

    /// The principal behind a device token, if the token is known.
    pub async fn device_access(&self, token_hash: &str) -> Result<Option<Access>> {
        let row = sqlx::query(
            "SELECT t.id, t.subscription_id, t.deactivated_at FROM device_tokens d \
             JOIN seats t ON t.id = d.seat_id WHERE d.token_hash = $1",
        )
        .bind(token_hash.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Access::Device {
                seat_id: parse_uuid(&row.try_get::<String, _>("id")?)?,
                subscription_id: parse_uuid(&row.try_get::<String, _>("subscription_id")?)?,
                active: row.try_get::<Option<i64>, _>("deactivated_at")?.is_none(),
            })
        })
        .transpose()
    }

    /// Records that a device checked in and returns its seat and subscription.
    pub async fn check_in(
        &self,
        seat_id: Uuid,
        subscription_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(Seat, Subscription)> {
        self.write_one(
            sqlx::query(
                "UPDATE seats SET last_seen_at = $2 WHERE id = $1 AND deactivated_at IS NULL",
            )
            .bind(seat_id.to_string())
            .bind(to_micros(now)),
        )
        .await?;
        let subscription = self
            .get_subscription(Access::Admin, subscription_id)
            .await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.id = $1"
        ))
        .bind(seat_id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound("seat"))?;
        Ok((rows::seat(&row)?, subscription))
    }
}
