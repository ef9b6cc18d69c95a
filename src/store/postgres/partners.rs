//! Partners and their API keys.

use super::{
    PgStore, is_unique_violation,
    rows::{PartnerKeyRow, PartnerRow, PartnerWithKeyRow, convert},
};
use crate::{
    domain::{
        page::{Page, PageRequest},
        partner::{Partner, PartnerKey},
    },
    error::{Error, Reason, Resource, Result},
    store::PartnerStore,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

fn partner_exists(message: String) -> Error {
    Error::AlreadyExists {
        reason: Reason::PartnerExists,
        message,
    }
}

#[async_trait]
impl PartnerStore for PgStore {
    async fn create_partner(&self, partner: &Partner) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO partners (id, display_name, status, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(partner.id)
        .bind(&partner.display_name)
        .bind(partner.status.as_str())
        .bind(partner.created_at)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(partner_exists(format!(
                "a partner named {:?} exists already",
                partner.display_name
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn partner(&self, id: Uuid) -> Result<Option<Partner>> {
        let row: Option<PartnerRow> = sqlx::query_as(
            "SELECT id, display_name, status, created_at FROM partners WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Partner::try_from).transpose()
    }

    async fn partner_by_name(&self, display_name: &str) -> Result<Option<Partner>> {
        let row: Option<PartnerRow> = sqlx::query_as(
            "SELECT id, display_name, status, created_at FROM partners WHERE display_name = $1",
        )
        .bind(display_name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Partner::try_from).transpose()
    }

    async fn list_partners(&self, page: &PageRequest) -> Result<Page<Partner>> {
        // The token holds the last display name seen (its number is unused).
        let after = page.after.as_ref().map(|(_, name)| name.as_str());
        let rows: Vec<PartnerRow> = sqlx::query_as(
            "SELECT id, display_name, status, created_at FROM partners \
             WHERE $1::text IS NULL OR display_name > $1 ORDER BY display_name LIMIT $2",
        )
        .bind(after)
        .bind(page.size + 1)
        .fetch_all(&self.pool)
        .await?;
        Ok(Page::from_rows(convert(rows)?, page.size, |p| {
            (0, p.display_name.clone())
        }))
    }

    async fn save_partner(&self, partner: &Partner) -> Result<()> {
        let saved = sqlx::query("UPDATE partners SET display_name = $2, status = $3 WHERE id = $1")
            .bind(partner.id)
            .bind(&partner.display_name)
            .bind(partner.status.as_str())
            .execute(&self.pool)
            .await;
        match saved {
            Ok(done) if done.rows_affected() == 0 => Err(Error::NotFound(Resource::Partner)),
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(partner_exists("another partner has this name".to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn create_partner_key(&self, key: &PartnerKey, key_hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO partner_keys (id, partner_id, key_hash, prefix, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.id)
        .bind(key.partner_id)
        .bind(key_hash)
        .bind(&key.prefix)
        .bind(key.created_at)
        .bind(key.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn partner_keys(&self, partner_id: Uuid) -> Result<Vec<PartnerKey>> {
        let rows: Vec<PartnerKeyRow> = sqlx::query_as(
            "SELECT id, partner_id, prefix, created_at, revoked_at FROM partner_keys \
             WHERE partner_id = $1 ORDER BY created_at, id",
        )
        .bind(partner_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(PartnerKey::from).collect())
    }

    async fn partner_key(&self, partner_id: Uuid, key_id: Uuid) -> Result<Option<PartnerKey>> {
        let row: Option<PartnerKeyRow> = sqlx::query_as(
            "SELECT id, partner_id, prefix, created_at, revoked_at FROM partner_keys \
             WHERE id = $1 AND partner_id = $2",
        )
        .bind(key_id)
        .bind(partner_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(PartnerKey::from))
    }

    async fn revoke_partner_key(
        &self,
        partner_id: Uuid,
        key_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE partner_keys SET revoked_at = $3 \
             WHERE id = $1 AND partner_id = $2 AND revoked_at IS NULL",
        )
        .bind(key_id)
        .bind(partner_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn partner_key_by_hash(&self, key_hash: &str) -> Result<Option<(Partner, PartnerKey)>> {
        let row: Option<PartnerWithKeyRow> = sqlx::query_as(
            "SELECT p.id, p.display_name, p.status, p.created_at, k.id AS key_id, \
             k.prefix AS key_prefix, k.created_at AS key_created_at, \
             k.revoked_at AS key_revoked_at \
             FROM partner_keys k JOIN partners p ON p.id = k.partner_id WHERE k.key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(<(Partner, PartnerKey)>::try_from).transpose()
    }
}
