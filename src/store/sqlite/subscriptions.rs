//! Subscriptions: scoped reads, the one paged listing, and writes within a unit of work.

use super::{
    SqliteStore, SqliteUnit,
    rows::{self, SubscriptionRow, subscription_columns},
    scope::{Visible, restrict},
};
use crate::{
    domain::{
        clock::to_micros,
        page::{Page, PageRequest},
        principal::Scope,
        subscription::{DueQuery, Subscription, SubscriptionQuery},
    },
    error::{Error, Resource, Result},
    store::{SubscriptionStore, SubscriptionTx},
};
use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

/// Selects subscriptions `s`, with the `WHERE` clause open.
const SELECT: &str = concat!(
    "SELECT ",
    subscription_columns!(),
    " FROM subscriptions s WHERE TRUE"
);

/// The due set of `DueQuery` (`now`, grace cutoff, limit), as `lifecycle::due_event`
/// decides it. The status list repeats the predicate of the partial index
/// `subscriptions_due` word for word: SQLite uses such an index only then.
pub(super) const CLAIM_DUE: &str = concat!(
    "SELECT ",
    subscription_columns!(),
    " FROM subscriptions s WHERE s.term_end <= ?1",
    " AND s.status IN ('TRIAL', 'ACTIVE', 'SUSPENDED', 'GRACE') AND (",
    "s.status IN ('TRIAL', 'ACTIVE')",
    " OR (s.status = 'SUSPENDED' AND (s.channel = 'CARRIER'",
    " OR s.cancel_at_period_end = 1 OR s.term_end <= ?2))",
    " OR (s.status = 'GRACE' AND (s.cancel_at_period_end = 1 OR s.term_end <= ?2)))",
    " ORDER BY s.term_end, s.id LIMIT ?3"
);

/// The subscription `id` if `scope` sees it, on any connection (the pool's, or a unit's,
/// where SQLite's write lock keeps it locked until commit).
async fn visible_subscription(
    conn: &mut SqliteConnection,
    scope: Scope,
    id: Uuid,
) -> Result<Subscription> {
    let mut query = QueryBuilder::<Sqlite>::new(SELECT);
    query.push(" AND s.id = ").push_bind(id.to_string());
    if restrict(&mut query, scope) == Visible::Nothing {
        return Err(Error::NotFound(Resource::Subscription));
    }
    query
        .build_query_as::<SubscriptionRow>()
        .fetch_optional(conn)
        .await?
        .ok_or(Error::NotFound(Resource::Subscription))?
        .try_into()
}

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn subscription(&self, scope: Scope, id: Uuid) -> Result<Subscription> {
        let mut conn = self.pool.acquire().await?;
        visible_subscription(&mut conn, scope, id).await
    }

    async fn list_subscriptions(
        &self,
        scope: Scope,
        filter: &SubscriptionQuery,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let mut query = QueryBuilder::<Sqlite>::new(SELECT);
        if restrict(&mut query, scope) == Visible::Nothing {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: String::new(),
            });
        }
        if let Some(account_id) = filter.account_id {
            query
                .push(" AND s.account_id = ")
                .push_bind(account_id.to_string());
        }
        if let Some(partner_id) = filter.partner_id {
            query
                .push(" AND s.partner_id = ")
                .push_bind(partner_id.to_string());
        }
        if let Some(reference) = &filter.partner_reference {
            query
                .push(" AND s.partner_reference = ")
                .push_bind(reference.clone());
        }
        if let Some(status) = filter.status {
            query.push(" AND s.status = ").push_bind(status.as_str());
        }
        if let Some((created_at, id)) = &page.after {
            query
                .push(" AND (s.created_at < ")
                .push_bind(*created_at)
                .push(" OR (s.created_at = ")
                .push_bind(*created_at)
                .push(" AND s.id < ")
                .push_bind(id.clone())
                .push("))");
        }
        query
            .push(" ORDER BY s.created_at DESC, s.id DESC LIMIT ")
            .push_bind(page.size + 1);
        let found = query
            .build_query_as::<SubscriptionRow>()
            .fetch_all(&self.pool)
            .await?;
        Ok(Page::from_rows(rows::convert(found)?, page.size, |s| {
            (to_micros(s.created_at), s.id.to_string())
        }))
    }

    async fn account_subscriptions(
        &self,
        scope: Scope,
        account_id: Uuid,
    ) -> Result<Vec<Subscription>> {
        let mut query = QueryBuilder::<Sqlite>::new(SELECT);
        query
            .push(" AND s.account_id = ")
            .push_bind(account_id.to_string());
        if restrict(&mut query, scope) == Visible::Nothing {
            return Ok(Vec::new());
        }
        query.push(" ORDER BY s.created_at DESC, s.id DESC");
        let found = query
            .build_query_as::<SubscriptionRow>()
            .fetch_all(&self.pool)
            .await?;
        rows::convert(found)
    }

    async fn subscriptions_with_free_seat(
        &self,
        scope: Scope,
        account_id: Uuid,
    ) -> Result<Vec<Subscription>> {
        let mut query = QueryBuilder::<Sqlite>::new(SELECT);
        query
            .push(" AND s.account_id = ")
            .push_bind(account_id.to_string())
            .push(" AND s.status IN ('ACTIVE', 'TRIAL') AND s.active_seats < s.seat_limit");
        if restrict(&mut query, scope) == Visible::Nothing {
            return Ok(Vec::new());
        }
        query.push(" ORDER BY s.term_end DESC, s.id");
        let found = query
            .build_query_as::<SubscriptionRow>()
            .fetch_all(&self.pool)
            .await?;
        rows::convert(found)
    }
}

#[async_trait]
impl SubscriptionTx for SqliteUnit {
    async fn lock_subscription(&mut self, scope: Scope, id: Uuid) -> Result<Subscription> {
        visible_subscription(self.conn(), scope, id).await
    }

    async fn insert_subscription(&mut self, s: &Subscription) -> Result<()> {
        sqlx::query(
            "INSERT INTO subscriptions (id, plan_code, channel, status, account_id, seat_limit, \
             active_seats, term_start, term_end, auto_renew, cancel_at_period_end, partner_id, \
             partner_reference, product_key, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(s.id.to_string())
        .bind(s.plan_code.as_str())
        .bind(s.channel.as_str())
        .bind(s.status.as_str())
        .bind(s.account_id.map(|id| id.to_string()))
        .bind(s.seat_limit)
        .bind(s.active_seats)
        .bind(to_micros(s.term_start))
        .bind(to_micros(s.term_end))
        .bind(i64::from(s.auto_renew))
        .bind(i64::from(s.cancel_at_period_end))
        .bind(s.partner_id.map(|id| id.to_string()))
        .bind(s.partner_reference.as_deref())
        .bind(s.product_key.as_deref())
        .bind(to_micros(s.created_at))
        .bind(to_micros(s.updated_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn save_subscription(&mut self, s: &Subscription) -> Result<()> {
        let saved = sqlx::query(
            "UPDATE subscriptions SET plan_code = ?, seat_limit = ?, active_seats = ?, \
             status = ?, account_id = ?, term_start = ?, term_end = ?, auto_renew = ?, \
             cancel_at_period_end = ?, partner_reference = ?, updated_at = ? WHERE id = ?",
        )
        .bind(s.plan_code.as_str())
        .bind(s.seat_limit)
        .bind(s.active_seats)
        .bind(s.status.as_str())
        .bind(s.account_id.map(|id| id.to_string()))
        .bind(to_micros(s.term_start))
        .bind(to_micros(s.term_end))
        .bind(i64::from(s.auto_renew))
        .bind(i64::from(s.cancel_at_period_end))
        .bind(s.partner_reference.as_deref())
        .bind(to_micros(s.updated_at))
        .bind(s.id.to_string())
        .execute(self.conn())
        .await?;
        if saved.rows_affected() == 0 {
            return Err(Error::NotFound(Resource::Subscription));
        }
        Ok(())
    }

    async fn claim_due(&mut self, due: &DueQuery, limit: i64) -> Result<Vec<Subscription>> {
        let found: Vec<SubscriptionRow> = sqlx::query_as(CLAIM_DUE)
            .bind(to_micros(due.now))
            .bind(to_micros(due.grace_cutoff))
            .bind(limit.max(0))
            .fetch_all(self.conn())
            .await?;
        rows::convert(found)
    }
}
