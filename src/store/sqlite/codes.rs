//! Partner codes and product keys, both stored only as keyed hashes. Within a unit of
//! work SQLite's write lock already serialises everything, so "locking" a row is reading
//! it.

use super::{
    SqliteUnit,
    rows::{self, PartnerCodeRow, ProductKeyRow},
};
use crate::{
    domain::{
        clock::to_micros,
        redemption::{PartnerCode, ProductKey},
    },
    error::{Error, Resource, Result},
    store::CodeTx,
};
use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

/// Product keys per `INSERT`: 8 values each, well under SQLite's 32766 variables.
const KEYS_PER_INSERT: usize = 1000;

/// The columns of [`PartnerCodeRow`].
macro_rules! partner_code_columns {
    () => {
        "code_hash, subscription_id, created_at, expires_at, redeemed_at, redeemed_by, \
         revoked_at"
    };
}

#[async_trait]
impl CodeTx for SqliteUnit {
    async fn insert_partner_code(&mut self, code: &PartnerCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO partner_codes (code_hash, subscription_id, created_at, expires_at, \
             redeemed_at, redeemed_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(code.hash.as_str())
        .bind(code.subscription_id.to_string())
        .bind(to_micros(code.created_at))
        .bind(to_micros(code.expires_at))
        .bind(code.redeemed_at.map(to_micros))
        .bind(code.redeemed_by.map(|id| id.to_string()))
        .bind(code.revoked_at.map(to_micros))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn lock_partner_code(&mut self, hash: &str) -> Result<Option<PartnerCode>> {
        let row: Option<PartnerCodeRow> = sqlx::query_as(concat!(
            "SELECT ",
            partner_code_columns!(),
            " FROM partner_codes WHERE code_hash = ?"
        ))
        .bind(hash)
        .fetch_optional(self.conn())
        .await?;
        row.map(PartnerCode::try_from).transpose()
    }

    async fn live_partner_codes(&mut self, subscription_id: Uuid) -> Result<Vec<PartnerCode>> {
        let found: Vec<PartnerCodeRow> = sqlx::query_as(concat!(
            "SELECT ",
            partner_code_columns!(),
            " FROM partner_codes WHERE subscription_id = ? \
             AND redeemed_at IS NULL AND revoked_at IS NULL ORDER BY created_at, code_hash"
        ))
        .bind(subscription_id.to_string())
        .fetch_all(self.conn())
        .await?;
        rows::convert(found)
    }

    async fn save_partner_code(&mut self, code: &PartnerCode) -> Result<()> {
        let saved = sqlx::query(
            "UPDATE partner_codes SET redeemed_at = ?, redeemed_by = ?, revoked_at = ? \
             WHERE code_hash = ?",
        )
        .bind(code.redeemed_at.map(to_micros))
        .bind(code.redeemed_by.map(|id| id.to_string()))
        .bind(code.revoked_at.map(to_micros))
        .bind(code.hash.as_str())
        .execute(self.conn())
        .await?;
        if saved.rows_affected() == 0 {
            return Err(Error::NotFound(Resource::PartnerCode));
        }
        Ok(())
    }

    async fn insert_product_keys(&mut self, keys: &[ProductKey]) -> Result<()> {
        for chunk in keys.chunks(KEYS_PER_INSERT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO product_keys (key_hash, plan_code, kind, batch_label, issued_at, \
                 redeemed_at, redeemed_by, subscription_id) ",
            );
            query.push_values(chunk, |mut row, key| {
                row.push_bind(key.hash.clone())
                    .push_bind(key.plan_code.clone())
                    .push_bind(key.kind.as_str())
                    .push_bind(key.batch_label.clone())
                    .push_bind(to_micros(key.issued_at))
                    .push_bind(key.redeemed_at.map(to_micros))
                    .push_bind(key.redeemed_by.map(|id| id.to_string()))
                    .push_bind(key.subscription_id.map(|id| id.to_string()));
            });
            query.build().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn lock_product_key(&mut self, hash: &str) -> Result<Option<ProductKey>> {
        let row: Option<ProductKeyRow> = sqlx::query_as(
            "SELECT key_hash, plan_code, kind, batch_label, issued_at, redeemed_at, \
             redeemed_by, subscription_id FROM product_keys WHERE key_hash = ?",
        )
        .bind(hash)
        .fetch_optional(self.conn())
        .await?;
        row.map(ProductKey::try_from).transpose()
    }

    async fn save_product_key(&mut self, key: &ProductKey) -> Result<()> {
        let saved = sqlx::query(
            "UPDATE product_keys SET redeemed_at = ?, redeemed_by = ?, subscription_id = ? \
             WHERE key_hash = ?",
        )
        .bind(key.redeemed_at.map(to_micros))
        .bind(key.redeemed_by.map(|id| id.to_string()))
        .bind(key.subscription_id.map(|id| id.to_string()))
        .bind(key.hash.as_str())
        .execute(self.conn())
        .await?;
        if saved.rows_affected() == 0 {
            return Err(Error::NotFound(Resource::ProductKey));
        }
        Ok(())
    }
}
