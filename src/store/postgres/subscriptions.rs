//! Subscriptions: scoped reads, the one paged listing, locking, writing back, and the
//! lifecycle worker's claims.

use super::{
    PgStore, PgUnit, page_position, position_of, push_scope,
    rows::{SubscriptionRow, convert, subscription_columns},
};
use crate::{
    domain::{
        page::{Page, PageRequest},
        principal::Scope,
        subscription::{DueQuery, Subscription, SubscriptionQuery},
    },
    error::{Error, Resource, Result},
    store::{SubscriptionStore, SubscriptionTx},
};
use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// The set `DueQuery` documents (and 0fdacf9's worker selected), for `now`, the grace
/// cutoff and a limit: the term has ended, and TRIAL or ACTIVE; SUSPENDED and CARRIER,
/// flagged, or past grace; GRACE and flagged, or past grace. Rows another replica claimed
/// are skipped. The status list repeats the predicate of the partial index
/// `subscriptions_due`: the planner does not derive it from the alternatives after it.
pub(super) const CLAIM_DUE: &str = concat!(
    "SELECT ",
    subscription_columns!(),
    " FROM subscriptions s WHERE s.term_end <= $1",
    " AND s.status IN ('TRIAL', 'ACTIVE', 'SUSPENDED', 'GRACE') AND (",
    "s.status IN ('TRIAL', 'ACTIVE')",
    " OR (s.status = 'SUSPENDED' AND (s.channel = 'CARRIER'",
    " OR s.cancel_at_period_end OR s.term_end <= $2))",
    " OR (s.status = 'GRACE' AND (s.cancel_at_period_end OR s.term_end <= $2)))",
    " ORDER BY s.term_end, s.id LIMIT $3 FOR UPDATE SKIP LOCKED"
);

/// `SELECT … FROM subscriptions s WHERE s.id = $1` narrowed to `scope`; `None` when
/// the scope sees nothing.
fn select_by_id(scope: Scope, id: Uuid) -> Option<QueryBuilder<Postgres>> {
    let mut query = QueryBuilder::new(concat!(
        "SELECT ",
        subscription_columns!(),
        " FROM subscriptions s WHERE s.id = "
    ));
    query.push_bind(id);
    push_scope(&mut query, scope).then_some(query)
}

#[async_trait]
impl SubscriptionStore for PgStore {
    async fn subscription(&self, scope: Scope, id: Uuid) -> Result<Subscription> {
        let Some(mut query) = select_by_id(scope, id) else {
            return Err(Error::NotFound(Resource::Subscription));
        };
        query
            .build_query_as::<SubscriptionRow>()
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound(Resource::Subscription))?
            .try_into()
    }

    async fn list_subscriptions(
        &self,
        scope: Scope,
        filter: &SubscriptionQuery,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let after = page.after.as_ref().map(page_position).transpose()?;
        let mut query = QueryBuilder::new(concat!(
            "SELECT ",
            subscription_columns!(),
            " FROM subscriptions s WHERE TRUE"
        ));
        if !push_scope(&mut query, scope) {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: String::new(),
            });
        }
        if let Some(account_id) = filter.account_id {
            query.push(" AND s.account_id = ").push_bind(account_id);
        }
        if let Some(partner_id) = filter.partner_id {
            query.push(" AND s.partner_id = ").push_bind(partner_id);
        }
        if let Some(reference) = &filter.partner_reference {
            query
                .push(" AND s.partner_reference = ")
                .push_bind(reference);
        }
        if let Some(status) = filter.status {
            query.push(" AND s.status = ").push_bind(status.as_str());
        }
        if let Some((created_at, id)) = after {
            query
                .push(" AND (s.created_at, s.id) < (")
                .push_bind(created_at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        query
            .push(" ORDER BY s.created_at DESC, s.id DESC LIMIT ")
            .push_bind(page.size + 1);
        let rows = query
            .build_query_as::<SubscriptionRow>()
            .fetch_all(&self.pool)
            .await?;
        Ok(Page::from_rows(convert(rows)?, page.size, |s| {
            position_of(s.created_at, s.id)
        }))
    }

    async fn account_subscriptions(
        &self,
        scope: Scope,
        account_id: Uuid,
    ) -> Result<Vec<Subscription>> {
        let mut query = QueryBuilder::new(concat!(
            "SELECT ",
            subscription_columns!(),
            " FROM subscriptions s WHERE s.account_id = "
        ));
        query.push_bind(account_id);
        if !push_scope(&mut query, scope) {
            return Ok(Vec::new());
        }
        query.push(" ORDER BY s.created_at DESC, s.id DESC");
        let rows = query
            .build_query_as::<SubscriptionRow>()
            .fetch_all(&self.pool)
            .await?;
        convert(rows)
    }

    async fn subscriptions_with_free_seat(
        &self,
        scope: Scope,
        account_id: Uuid,
    ) -> Result<Vec<Subscription>> {
        let mut query = QueryBuilder::new(concat!(
            "SELECT ",
            subscription_columns!(),
            " FROM subscriptions s WHERE s.account_id = "
        ));
        query
            .push_bind(account_id)
            .push(" AND s.status IN ('ACTIVE', 'TRIAL') AND s.active_seats < s.seat_limit");
        if !push_scope(&mut query, scope) {
            return Ok(Vec::new());
        }
        query.push(" ORDER BY s.term_end DESC, s.id");
        let rows = query
            .build_query_as::<SubscriptionRow>()
            .fetch_all(&self.pool)
            .await?;
        convert(rows)
    }
}

#[async_trait]
impl SubscriptionTx for PgUnit {
    async fn lock_subscription(&mut self, scope: Scope, id: Uuid) -> Result<Subscription> {
        let Some(mut query) = select_by_id(scope, id) else {
            return Err(Error::NotFound(Resource::Subscription));
        };
        query.push(" FOR UPDATE");
        query
            .build_query_as::<SubscriptionRow>()
            .fetch_optional(self.conn())
            .await?
            .ok_or(Error::NotFound(Resource::Subscription))?
            .try_into()
    }

    async fn insert_subscription(&mut self, s: &Subscription) -> Result<()> {
        sqlx::query(
            "INSERT INTO subscriptions (id, plan_code, channel, status, account_id, seat_limit, \
             active_seats, term_start, term_end, auto_renew, cancel_at_period_end, partner_id, \
             partner_reference, product_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(s.id)
        .bind(&s.plan_code)
        .bind(s.channel.as_str())
        .bind(s.status.as_str())
        .bind(s.account_id)
        .bind(s.seat_limit)
        .bind(s.active_seats)
        .bind(s.term_start)
        .bind(s.term_end)
        .bind(s.auto_renew)
        .bind(s.cancel_at_period_end)
        .bind(s.partner_id)
        .bind(&s.partner_reference)
        .bind(&s.product_key)
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn save_subscription(&mut self, s: &Subscription) -> Result<()> {
        let saved = sqlx::query(
            "UPDATE subscriptions SET plan_code = $2, status = $3, account_id = $4, \
             seat_limit = $5, active_seats = $6, term_start = $7, term_end = $8, \
             auto_renew = $9, cancel_at_period_end = $10, partner_reference = $11, \
             updated_at = $12 WHERE id = $1",
        )
        .bind(s.id)
        .bind(&s.plan_code)
        .bind(s.status.as_str())
        .bind(s.account_id)
        .bind(s.seat_limit)
        .bind(s.active_seats)
        .bind(s.term_start)
        .bind(s.term_end)
        .bind(s.auto_renew)
        .bind(s.cancel_at_period_end)
        .bind(&s.partner_reference)
        .bind(s.updated_at)
        .execute(self.conn())
        .await?;
        if saved.rows_affected() == 0 {
            return Err(Error::NotFound(Resource::Subscription));
        }
        Ok(())
    }

    async fn claim_due(&mut self, due: &DueQuery, limit: i64) -> Result<Vec<Subscription>> {
        let rows: Vec<SubscriptionRow> = sqlx::query_as(CLAIM_DUE)
            .bind(due.now)
            .bind(due.grace_cutoff)
            .bind(limit)
            .fetch_all(self.conn())
            .await?;
        convert(rows)
    }
}
