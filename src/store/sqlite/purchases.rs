//! App Store and Google Play purchases on file, and the Play tokens replaced by newer ones.

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

/// The columns of `store_purchases`, in the order of `StorePurchaseRow`.
macro_rules! columns {
    () => {
        "store, original_id, subscription_id, product_id, environment, \
         latest_transaction_id, latest_purchased_at, latest_signed_at, renewal_signed_at, \
         created_at, updated_at"
    };
}

/// Replacements of replacements are followed at most this far (Google chains one token
/// per upgrade or re-subscription; a loop is a corrupt file, not a purchase).
const MAX_REPLACEMENTS: usize = 64;

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
        let row: Option<StorePurchaseRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM store_purchases WHERE store = ? AND original_id = ?"
        ))
        .bind(store.as_str())
        .bind(original_id)
        .fetch_optional(self.conn())
        .await?;
        row.map(StorePurchase::try_from).transpose()
    }

    async fn insert_store_purchase(&mut self, purchase: &StorePurchase) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO store_purchases (",
            columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(purchase.store.as_str())
        .bind(purchase.original_id.as_str())
        .bind(purchase.subscription_id.to_string())
        .bind(purchase.product_id.as_str())
        .bind(purchase.environment.as_str())
        .bind(purchase.latest_transaction_id.as_deref())
        .bind(purchase.latest_purchased_at.map(to_micros))
        .bind(purchase.latest_signed_at.map(to_micros))
        .bind(purchase.renewal_signed_at.map(to_micros))
        .bind(to_micros(purchase.created_at))
        .bind(to_micros(purchase.updated_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn save_store_purchase(&mut self, purchase: &StorePurchase) -> Result<()> {
        let original_id = purchase.original_id.clone();
        self.refile(&original_id, purchase).await
    }

    async fn rekey_store_purchase(
        &mut self,
        previous_original_id: &str,
        purchase: &StorePurchase,
    ) -> Result<()> {
        self.refile(previous_original_id, purchase).await?;
        sqlx::query(
            "INSERT INTO store_purchase_replacements (store, original_id, replaced_by, \
             replaced_at) VALUES (?, ?, ?, ?) ON CONFLICT (store, original_id) DO UPDATE SET \
             replaced_by = excluded.replaced_by, replaced_at = excluded.replaced_at",
        )
        .bind(purchase.store.as_str())
        .bind(previous_original_id)
        .bind(purchase.original_id.as_str())
        .bind(to_micros(purchase.updated_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn store_purchase_replaced_by(
        &mut self,
        store: StoreKind,
        original_id: &str,
    ) -> Result<Option<String>> {
        let mut current: Option<String> = None;
        for _ in 0..MAX_REPLACEMENTS {
            let asked = current.as_deref().unwrap_or(original_id);
            let next: Option<(String,)> = sqlx::query_as(
                "SELECT replaced_by FROM store_purchase_replacements \
                 WHERE store = ? AND original_id = ?",
            )
            .bind(store.as_str())
            .bind(asked)
            .fetch_optional(self.conn())
            .await?;
            match next {
                Some((next,)) => current = Some(next),
                None => return Ok(current),
            }
        }
        Err(Error::Internal(format!(
            "the replacements of {} purchase {original_id:?} do not end",
            store.as_str()
        )))
    }
}

impl SqliteUnit {
    /// Writes every mutable field of `purchase` to the row filed as `filed_as`.
    async fn refile(&mut self, filed_as: &str, purchase: &StorePurchase) -> Result<()> {
        let written = sqlx::query(
            "UPDATE store_purchases SET original_id = ?, product_id = ?, \
             latest_transaction_id = ?, latest_purchased_at = ?, latest_signed_at = ?, \
             renewal_signed_at = ?, updated_at = ? WHERE store = ? AND original_id = ?",
        )
        .bind(purchase.original_id.as_str())
        .bind(purchase.product_id.as_str())
        .bind(purchase.latest_transaction_id.as_deref())
        .bind(purchase.latest_purchased_at.map(to_micros))
        .bind(purchase.latest_signed_at.map(to_micros))
        .bind(purchase.renewal_signed_at.map(to_micros))
        .bind(to_micros(purchase.updated_at))
        .bind(purchase.store.as_str())
        .bind(filed_as)
        .execute(self.conn())
        .await?;
        if written.rows_affected() == 0 {
            return Err(Error::Internal(format!(
                "no {} purchase {filed_as:?} on file to re-file",
                purchase.store.as_str()
            )));
        }
        Ok(())
    }
}
