//! App Store and Google Play purchases on file.

use super::{SqliteUnit, rows::StorePurchaseRow};
use crate::{
    domain::{
        clock::to_micros,
        purchase::{StoreKind, StorePurchase},
    },
    error::{Error, Result},
    store::PurchaseTx,
};
use async_trait::async_trait;

#[async_trait]
impl PurchaseTx for SqliteUnit {
    async fn lock_store_purchase(
        &mut self,
        store: StoreKind,
        original_id: &str,
    ) -> Result<Option<StorePurchase>> {
        // The unit holds SQLite's write lock from its first statement: a concurrent unit
        // asking for the same purchase waits at the write gate until this one ends, even
        // while the purchase does not exist yet.
        let row: Option<StorePurchaseRow> = sqlx::query_as(
            "SELECT store, original_id, subscription_id, product_id, environment, created_at, \
             updated_at FROM store_purchases WHERE store = ? AND original_id = ?",
        )
        .bind(store.as_str())
        .bind(original_id)
        .fetch_optional(self.conn())
        .await?;
        row.map(StorePurchase::try_from).transpose()
    }

    async fn insert_store_purchase(&mut self, purchase: &StorePurchase) -> Result<()> {
        sqlx::query(
            "INSERT INTO store_purchases (store, original_id, subscription_id, product_id, \
             environment, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(purchase.store.as_str())
        .bind(purchase.original_id.as_str())
        .bind(purchase.subscription_id.to_string())
        .bind(purchase.product_id.as_str())
        .bind(purchase.environment.as_str())
        .bind(to_micros(purchase.created_at))
        .bind(to_micros(purchase.updated_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn rekey_store_purchase(
        &mut self,
        previous_original_id: &str,
        purchase: &StorePurchase,
    ) -> Result<()> {
        let rekeyed = sqlx::query(
            "UPDATE store_purchases SET original_id = ?, product_id = ?, updated_at = ? \
             WHERE store = ? AND original_id = ?",
        )
        .bind(purchase.original_id.as_str())
        .bind(purchase.product_id.as_str())
        .bind(to_micros(purchase.updated_at))
        .bind(purchase.store.as_str())
        .bind(previous_original_id)
        .execute(self.conn())
        .await?;
        if rekeyed.rows_affected() == 0 {
            return Err(Error::Internal(format!(
                "no {} purchase {previous_original_id:?} on file to re-file",
                purchase.store.as_str()
            )));
        }
        Ok(())
    }
}
