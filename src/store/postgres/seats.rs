//! Seats and device tokens. The `seats_within_limit` check on subscriptions and the
//! `seats_one_active_per_device` index back the seat rules in the database.

use super::{
    PgStore, PgUnit, page_position, position_of, push_scope,
    rows::{DeviceRow, SeatRow, convert, seat_columns},
};
use crate::{
    domain::{
        page::{Page, PageRequest},
        principal::{Principal, Scope},
        seat::Seat,
    },
    error::{Error, Resource, Result},
    store::{SeatStore, SeatTx},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;

#[async_trait]
impl SeatStore for PgStore {
    async fn list_seats(
        &self,
        scope: Scope,
        subscription_id: Uuid,
        include_deactivated: bool,
        page: &PageRequest,
    ) -> Result<Page<Seat>> {
        let after = page.after.as_ref().map(page_position).transpose()?;
        let mut visible = QueryBuilder::new("SELECT s.id FROM subscriptions s WHERE s.id = ");
        visible.push_bind(subscription_id);
        if !push_scope(&mut visible, scope) {
            return Err(Error::NotFound(Resource::Subscription));
        }
        visible
            .build_query_scalar::<Uuid>()
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound(Resource::Subscription))?;

        let mut query = QueryBuilder::new(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.subscription_id = "
        ));
        query.push_bind(subscription_id);
        if !include_deactivated {
            query.push(" AND t.deactivated_at IS NULL");
        }
        if let Some((activated_at, id)) = after {
            query
                .push(" AND (t.activated_at, t.id) > (")
                .push_bind(activated_at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        query
            .push(" ORDER BY t.activated_at, t.id LIMIT ")
            .push_bind(page.size + 1);
        let rows = query
            .build_query_as::<SeatRow>()
            .fetch_all(&self.pool)
            .await?;
        Ok(Page::from_rows(convert(rows)?, page.size, |t| {
            position_of(t.activated_at, t.id)
        }))
    }

    async fn seat(&self, scope: Scope, subscription_id: Uuid, seat_id: Uuid) -> Result<Seat> {
        let mut query = QueryBuilder::new(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t JOIN subscriptions s ON s.id = t.subscription_id WHERE t.id = "
        ));
        query
            .push_bind(seat_id)
            .push(" AND t.subscription_id = ")
            .push_bind(subscription_id);
        if !push_scope(&mut query, scope) {
            return Err(Error::NotFound(Resource::Seat));
        }
        query
            .build_query_as::<SeatRow>()
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound(Resource::Seat))?
            .try_into()
    }

    async fn device_principal(&self, token_hash: &str) -> Result<Option<Principal>> {
        let row: Option<DeviceRow> = sqlx::query_as(
            "SELECT t.id AS seat_id, t.subscription_id, t.deactivated_at \
             FROM device_tokens d JOIN seats t ON t.id = d.seat_id WHERE d.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Principal::from))
    }

    async fn record_last_seen(&self, seen: &[(Uuid, DateTime<Utc>)]) -> Result<()> {
        let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = seen.iter().copied().unzip();
        sqlx::query(
            "UPDATE seats t SET last_seen_at = GREATEST(t.last_seen_at, v.at) \
             FROM UNNEST($1::uuid[], $2::timestamptz[]) AS v (id, at) \
             WHERE t.id = v.id AND t.deactivated_at IS NULL",
        )
        .bind(ids)
        .bind(times)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl SeatTx for PgUnit {
    async fn active_seats(&mut self, subscription_id: Uuid) -> Result<Vec<Seat>> {
        let rows: Vec<SeatRow> = sqlx::query_as(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.subscription_id = $1 AND t.deactivated_at IS NULL \
             ORDER BY t.activated_at, t.id"
        ))
        .bind(subscription_id)
        .fetch_all(self.conn())
        .await?;
        convert(rows)
    }

    async fn seat_in(&mut self, subscription_id: Uuid, seat_id: Uuid) -> Result<Seat> {
        let row: Option<SeatRow> = sqlx::query_as(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.id = $1 AND t.subscription_id = $2 FOR UPDATE"
        ))
        .bind(seat_id)
        .bind(subscription_id)
        .fetch_optional(self.conn())
        .await?;
        row.ok_or(Error::NotFound(Resource::Seat))?.try_into()
    }

    async fn insert_seat(&mut self, seat: &Seat) -> Result<()> {
        sqlx::query(
            "INSERT INTO seats (id, subscription_id, device_id, platform, display_name, \
             activated_at, last_seen_at, deactivated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seat.id)
        .bind(seat.subscription_id)
        .bind(&seat.device_id)
        .bind(seat.platform.as_str())
        .bind(&seat.display_name)
        .bind(seat.activated_at)
        .bind(seat.last_seen_at)
        .bind(seat.deactivated_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn save_seat(&mut self, seat: &Seat) -> Result<()> {
        let saved =
            sqlx::query("UPDATE seats SET deactivated_at = $2, last_seen_at = $3 WHERE id = $1")
                .bind(seat.id)
                .bind(seat.deactivated_at)
                .bind(seat.last_seen_at)
                .execute(self.conn())
                .await?;
        if saved.rows_affected() == 0 {
            return Err(Error::NotFound(Resource::Seat));
        }
        Ok(())
    }

    async fn insert_device_token(
        &mut self,
        token_hash: &str,
        seat_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO device_tokens (token_hash, seat_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(seat_id)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn move_device_tokens(&mut self, from: Uuid, to: Uuid) -> Result<()> {
        sqlx::query("UPDATE device_tokens SET seat_id = $2 WHERE seat_id = $1")
            .bind(from)
            .bind(to)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}
