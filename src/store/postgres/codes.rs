//! Partner codes and product keys. A code or key row is
//! locked while it is redeemed, so of concurrent redemptions exactly one wins.

use super::{
    PgUnit,
    rows::{PartnerCodeRow, ProductKeyRow},
};
use crate::{
    domain::redemption::{PartnerCode, ProductKey},
    error::{Error, Resource, Result},
    store::CodeTx,
};
use async_trait::async_trait;
use uuid::Uuid;

/// The columns of [`PartnerCodeRow`].
macro_rules! partner_code_columns {
    () => {
        "code_hash, subscription_id, created_at, expires_at, redeemed_at, redeemed_by, \
         revoked_at"
    };
}

#[async_trait]
impl CodeTx for PgUnit {
    async fn insert_partner_code(&mut self, code: &PartnerCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO partner_codes (code_hash, subscription_id, created_at, expires_at, \
             redeemed_at, redeemed_by, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&code.hash)
        .bind(code.subscription_id)
        .bind(code.created_at)
        .bind(code.expires_at)
        .bind(code.redeemed_at)
        .bind(code.redeemed_by)
        .bind(code.revoked_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn lock_partner_code(&mut self, hash: &str) -> Result<Option<PartnerCode>> {
        let row: Option<PartnerCodeRow> = sqlx::query_as(concat!(
            "SELECT ",
            partner_code_columns!(),
            " FROM partner_codes WHERE code_hash = $1 FOR UPDATE"
        ))
        .bind(hash)
        .fetch_optional(self.conn())
        .await?;
        Ok(row.map(PartnerCode::from))
    }

    async fn live_partner_codes(&mut self, subscription_id: Uuid) -> Result<Vec<PartnerCode>> {
        let rows: Vec<PartnerCodeRow> = sqlx::query_as(concat!(
            "SELECT ",
            partner_code_columns!(),
            " FROM partner_codes WHERE subscription_id = $1 \
             AND redeemed_at IS NULL AND revoked_at IS NULL ORDER BY created_at, code_hash \
             FOR UPDATE"
        ))
        .bind(subscription_id)
        .fetch_all(self.conn())
        .await?;
        Ok(rows.into_iter().map(PartnerCode::from).collect())
    }

    async fn save_partner_code(&mut self, code: &PartnerCode) -> Result<()> {
        let saved = sqlx::query(
            "UPDATE partner_codes SET redeemed_at = $2, redeemed_by = $3, revoked_at = $4 \
             WHERE code_hash = $1",
        )
        .bind(&code.hash)
        .bind(code.redeemed_at)
        .bind(code.redeemed_by)
        .bind(code.revoked_at)
        .execute(self.conn())
        .await?;
        if saved.rows_affected() == 0 {
            return Err(Error::NotFound(Resource::PartnerCode));
        }
        Ok(())
    }

    async fn insert_product_keys(&mut self, keys: &[ProductKey]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        // One statement for the whole batch, however large: a column of values each.
        let mut hashes = Vec::with_capacity(keys.len());
        let mut plans = Vec::with_capacity(keys.len());
        let mut kinds = Vec::with_capacity(keys.len());
        let mut batches = Vec::with_capacity(keys.len());
        let mut issued = Vec::with_capacity(keys.len());
        let mut redeemed_at = Vec::with_capacity(keys.len());
        let mut redeemed_by = Vec::with_capacity(keys.len());
        let mut subscriptions = Vec::with_capacity(keys.len());
        for key in keys {
            hashes.push(key.hash.as_str());
            plans.push(key.plan_code.as_str());
            kinds.push(key.kind.as_str());
            batches.push(key.batch_label.as_str());
            issued.push(key.issued_at);
            redeemed_at.push(key.redeemed_at);
            redeemed_by.push(key.redeemed_by);
            subscriptions.push(key.subscription_id);
        }
        sqlx::query(
            "INSERT INTO product_keys (key_hash, plan_code, kind, batch_label, issued_at, \
             redeemed_at, redeemed_by, subscription_id) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
             $5::timestamptz[], $6::timestamptz[], $7::uuid[], $8::uuid[])",
        )
        .bind(hashes)
        .bind(plans)
        .bind(kinds)
        .bind(batches)
        .bind(issued)
        .bind(redeemed_at)
        .bind(redeemed_by)
        .bind(subscriptions)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn lock_product_key(&mut self, hash: &str) -> Result<Option<ProductKey>> {
        let row: Option<ProductKeyRow> = sqlx::query_as(
            "SELECT key_hash, plan_code, kind, batch_label, issued_at, redeemed_at, \
             redeemed_by, subscription_id FROM product_keys WHERE key_hash = $1 FOR UPDATE",
        )
        .bind(hash)
        .fetch_optional(self.conn())
        .await?;
        row.map(ProductKey::try_from).transpose()
    }

    async fn save_product_key(&mut self, key: &ProductKey) -> Result<()> {
        let saved = sqlx::query(
            "UPDATE product_keys SET redeemed_at = $2, redeemed_by = $3, subscription_id = $4 \
             WHERE key_hash = $1",
        )
        .bind(&key.hash)
        .bind(key.redeemed_at)
        .bind(key.redeemed_by)
        .bind(key.subscription_id)
        .execute(self.conn())
        .await?;
        if saved.rows_affected() == 0 {
            return Err(Error::NotFound(Resource::ProductKey));
        }
        Ok(())
    }
}
