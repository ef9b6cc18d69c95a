//! App Store and Google Play purchases on file, and the Play tokens replaced by newer
//! ones. One store purchase maps to one subscription; concurrent restores of one
//! purchase take turns on an advisory lock named after it, so a purchase not on file yet
//! never gets two subscriptions.

use super::{PgUnit, advisory_lock, rows::StorePurchaseRow};
use crate::{
    domain::purchase::{StoreKind, StorePurchase},
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
impl PurchaseTx for PgUnit {
    async fn lock_store_purchase(
        &mut self,
        store: StoreKind,
        original_id: &str,
    ) -> Result<Option<StorePurchase>> {
        let store = store.as_str();
        advisory_lock(self.conn(), &format!("purchase\0{store}\0{original_id}")).await?;
        let row: Option<StorePurchaseRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM store_purchases WHERE store = $1 AND original_id = $2 FOR UPDATE"
        ))
        .bind(store)
        .bind(original_id)
        .fetch_optional(self.conn())
        .await?;
        row.map(StorePurchase::try_from).transpose()
    }

    async fn insert_store_purchase(&mut self, purchase: &StorePurchase) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO store_purchases (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(purchase.store.as_str())
        .bind(&purchase.original_id)
        .bind(purchase.subscription_id)
        .bind(&purchase.product_id)
        .bind(&purchase.environment)
        .bind(purchase.latest_transaction_id.as_deref())
        .bind(purchase.latest_purchased_at)
        .bind(purchase.latest_signed_at)
        .bind(purchase.renewal_signed_at)
        .bind(purchase.created_at)
        .bind(purchase.updated_at)
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
             replaced_at) VALUES ($1, $2, $3, $4) ON CONFLICT (store, original_id) DO UPDATE \
             SET replaced_by = excluded.replaced_by, replaced_at = excluded.replaced_at",
        )
        .bind(purchase.store.as_str())
        .bind(previous_original_id)
        .bind(&purchase.original_id)
        .bind(purchase.updated_at)
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
                 WHERE store = $1 AND original_id = $2",
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

impl PgUnit {
    /// Writes every mutable field of `purchase` to the row filed as `filed_as`.
    async fn refile(&mut self, filed_as: &str, purchase: &StorePurchase) -> Result<()> {
        let written = sqlx::query(
            "UPDATE store_purchases SET original_id = $3, product_id = $4, \
             latest_transaction_id = $5, latest_purchased_at = $6, latest_signed_at = $7, \
             renewal_signed_at = $8, updated_at = $9 WHERE store = $1 AND original_id = $2",
        )
        .bind(purchase.store.as_str())
        .bind(filed_as)
        .bind(&purchase.original_id)
        .bind(&purchase.product_id)
        .bind(purchase.latest_transaction_id.as_deref())
        .bind(purchase.latest_purchased_at)
        .bind(purchase.latest_signed_at)
        .bind(purchase.renewal_signed_at)
        .bind(purchase.updated_at)
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
