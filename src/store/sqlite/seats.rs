//! Seats and device tokens. The `seats_within_limit` check on subscriptions and the
//! `seats_one_active_per_device` index back the seat rules in the database.

use super::{
    SqliteStore, SqliteUnit,
    rows::{self, DeviceRow, SeatRow, seat_columns},
    scope::{Visible, restrict},
};
use crate::{
    domain::{
        clock::to_micros,
        page::{Page, PageRequest},
        principal::{Principal, Scope},
        seat::Seat,
    },
    error::{Error, Resource, Result},
    store::{SeatStore, SeatTx},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

#[async_trait]
impl SeatStore for SqliteStore {
    async fn list_seats(
        &self,
        scope: Scope,
        subscription_id: Uuid,
        include_deactivated: bool,
        page: &PageRequest,
    ) -> Result<Page<Seat>> {
        let mut visible =
            QueryBuilder::<Sqlite>::new("SELECT s.id FROM subscriptions s WHERE s.id = ");
        visible.push_bind(subscription_id.to_string());
        if restrict(&mut visible, scope) == Visible::Nothing {
            return Err(Error::NotFound(Resource::Subscription));
        }
        visible
            .build_query_scalar::<String>()
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound(Resource::Subscription))?;

        let mut query = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.subscription_id = "
        ));
        query.push_bind(subscription_id.to_string());
        if !include_deactivated {
            query.push(" AND t.deactivated_at IS NULL");
        }
        if let Some((activated_at, id)) = &page.after {
            query
                .push(" AND (t.activated_at > ")
                .push_bind(*activated_at)
                .push(" OR (t.activated_at = ")
                .push_bind(*activated_at)
                .push(" AND t.id > ")
                .push_bind(id.clone())
                .push("))");
        }
        query
            .push(" ORDER BY t.activated_at, t.id LIMIT ")
            .push_bind(page.size + 1);
        let found = query
            .build_query_as::<SeatRow>()
            .fetch_all(&self.pool)
            .await?;
        Ok(Page::from_rows(rows::convert(found)?, page.size, |seat| {
            (to_micros(seat.activated_at), seat.id.to_string())
        }))
    }

    async fn seat(&self, scope: Scope, subscription_id: Uuid, seat_id: Uuid) -> Result<Seat> {
        let mut query = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t JOIN subscriptions s ON s.id = t.subscription_id WHERE t.id = "
        ));
        query
            .push_bind(seat_id.to_string())
            .push(" AND t.subscription_id = ")
            .push_bind(subscription_id.to_string());
        if restrict(&mut query, scope) == Visible::Nothing {
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
            "SELECT t.id AS seat_id, t.subscription_id AS subscription_id, \
             t.deactivated_at AS deactivated_at \
             FROM device_tokens d JOIN seats t ON t.id = d.seat_id WHERE d.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Principal::try_from).transpose()
    }

    async fn record_last_seen(&self, seen: &[(Uuid, DateTime<Utc>)]) -> Result<()> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (seat_id, at) in seen {
            sqlx::query(
                "UPDATE seats SET last_seen_at = MAX(last_seen_at, ?) \
                 WHERE id = ? AND deactivated_at IS NULL",
            )
            .bind(to_micros(*at))
            .bind(seat_id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl SeatTx for SqliteUnit {
    async fn active_seats(&mut self, subscription_id: Uuid) -> Result<Vec<Seat>> {
        let found: Vec<SeatRow> = sqlx::query_as(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.subscription_id = ? AND t.deactivated_at IS NULL \
             ORDER BY t.activated_at, t.id"
        ))
        .bind(subscription_id.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        rows::convert(found)
    }

    async fn seat_in(&mut self, subscription_id: Uuid, seat_id: Uuid) -> Result<Seat> {
        let row: SeatRow = sqlx::query_as(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.id = ? AND t.subscription_id = ?"
        ))
        .bind(seat_id.to_string())
        .bind(subscription_id.to_string())
        .fetch_optional(&mut *self.tx)
        .await?
        .ok_or(Error::NotFound(Resource::Seat))?;
        row.try_into()
    }

    async fn insert_seat(&mut self, seat: &Seat) -> Result<()> {
        sqlx::query(
            "INSERT INTO seats (id, subscription_id, device_id, platform, display_name, \
             activated_at, last_seen_at, deactivated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seat.id.to_string())
        .bind(seat.subscription_id.to_string())
        .bind(seat.device_id.as_str())
        .bind(seat.platform.as_str())
        .bind(seat.display_name.as_str())
        .bind(to_micros(seat.activated_at))
        .bind(to_micros(seat.last_seen_at))
        .bind(seat.deactivated_at.map(to_micros))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn save_seat(&mut self, seat: &Seat) -> Result<()> {
        let saved =
            sqlx::query("UPDATE seats SET deactivated_at = ?, last_seen_at = ? WHERE id = ?")
                .bind(seat.deactivated_at.map(to_micros))
                .bind(to_micros(seat.last_seen_at))
                .bind(seat.id.to_string())
                .execute(&mut *self.tx)
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
        sqlx::query("INSERT INTO device_tokens (token_hash, seat_id, created_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(seat_id.to_string())
            .bind(to_micros(now))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn move_device_tokens(&mut self, from: Uuid, to: Uuid) -> Result<()> {
        sqlx::query("UPDATE device_tokens SET seat_id = ? WHERE seat_id = ?")
            .bind(to.to_string())
            .bind(from.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
