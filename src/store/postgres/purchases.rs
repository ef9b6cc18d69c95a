//! App Store and Google Play purchases on file. One store purchase maps to one
//! subscription; concurrent restores of one purchase take turns on an advisory lock
//! named after it, so a purchase not on file yet never gets two subscriptions.

use super::{PgUnit, advisory_lock, rows::StorePurchaseRow};
use crate::{
    domain::purchase::{StoreKind, StorePurchase},
    error::{Error, Result},
    store::PurchaseTx,
};
use async_trait::async_trait;

#[async_trait]
impl PurchaseTx for PgUnit {
    async fn lock_store_purchase(
        &mut self,
        store: StoreKind,
        original_id: &str,
    ) -> Result<Option<StorePurchase>> {
        let store = store.as_str();
        advisory_lock(self.conn(), &format!("purchase\0{store}\0{original_id}")).await?;
        let row: Option<StorePurchaseRow> = sqlx::query_as(
            "SELECT store, original_id, subscription_id, product_id, environment, created_at, \
             updated_at FROM store_purchases WHERE store = $1 AND original_id = $2 FOR UPDATE",
        )
        .bind(store)
        .bind(original_id)
        .fetch_optional(self.conn())
        .await?;
        row.map(StorePurchase::try_from).transpose()
    }

    async fn insert_store_purchase(&mut self, purchase: &StorePurchase) -> Result<()> {
        sqlx::query(
            "INSERT INTO store_purchases (store, original_id, subscription_id, product_id, \
             environment, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(purchase.store.as_str())
        .bind(&purchase.original_id)
        .bind(purchase.subscription_id)
        .bind(&purchase.product_id)
        .bind(&purchase.environment)
        .bind(purchase.created_at)
        .bind(purchase.updated_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn rekey_store_purchase(
        &mut self,
        previous_original_id: &str,
        purchase: &StorePurchase,
    ) -> Result<()> {
        let moved = sqlx::query(
            "UPDATE store_purchases SET original_id = $3, product_id = $4, updated_at = $5 \
             WHERE store = $1 AND original_id = $2",
        )
        .bind(purchase.store.as_str())
        .bind(previous_original_id)
        .bind(&purchase.original_id)
        .bind(&purchase.product_id)
        .bind(purchase.updated_at)
        .execute(self.conn())
        .await?;
        if moved.rows_affected() == 0 {
            return Err(Error::Internal(format!(
                "no {} purchase {previous_original_id:?} on file to re-file",
                purchase.store.as_str()
            )));
        }
        Ok(())
    }
}
