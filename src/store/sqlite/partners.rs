//! Partners and their API keys. Every write here is one statement, taken in turn at the
//! write gate.

use super::{
    SqliteStore, is_unique_violation_of,
    rows::{self, KeyWithPartnerRow, PartnerKeyRow, PartnerRow},
};
use crate::{
    domain::{
        clock::to_micros,
        page::{Page, PageRequest},
        partner::{Partner, PartnerKey},
    },
    error::{Error, Reason, Resource, Result},
    store::PartnerStore,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

const PARTNER_NAME: &str = "partners.display_name";

#[async_trait]
impl PartnerStore for SqliteStore {
    async fn create_partner(&self, partner: &Partner) -> Result<()> {
        let _turn = self.write_turn().await;
        let inserted = sqlx::query(
            "INSERT INTO partners (id, display_name, status, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(partner.id.to_string())
        .bind(partner.display_name.as_str())
        .bind(partner.status.as_str())
        .bind(to_micros(partner.created_at))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation_of(&e, PARTNER_NAME) => Err(Error::AlreadyExists {
                reason: Reason::PartnerExists,
                message: format!("a partner named {:?} exists already", partner.display_name),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn partner(&self, id: Uuid) -> Result<Option<Partner>> {
        let row: Option<PartnerRow> = sqlx::query_as(
            "SELECT id, display_name, status, created_at FROM partners WHERE id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(Partner::try_from).transpose()
    }

    async fn partner_by_name(&self, display_name: &str) -> Result<Option<Partner>> {
        let row: Option<PartnerRow> = sqlx::query_as(
            "SELECT id, display_name, status, created_at FROM partners WHERE display_name = ?",
        )
        .bind(display_name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Partner::try_from).transpose()
    }

    async fn list_partners(&self, page: &PageRequest) -> Result<Page<Partner>> {
        // Names are unique: the name alone is the key (the token's number is unused).
        let after = page.after.as_ref().map(|(_, name)| name.as_str());
        let found: Vec<PartnerRow> = sqlx::query_as(
            "SELECT id, display_name, status, created_at FROM partners \
             WHERE ?1 IS NULL OR display_name > ?1 ORDER BY display_name LIMIT ?2",
        )
        .bind(after)
        .bind(page.size + 1)
        .fetch_all(&self.pool)
        .await?;
        Ok(Page::from_rows(rows::convert(found)?, page.size, |p| {
            (0, p.display_name.clone())
        }))
    }

    async fn save_partner(&self, partner: &Partner) -> Result<()> {
        let _turn = self.write_turn().await;
        let saved = sqlx::query("UPDATE partners SET display_name = ?, status = ? WHERE id = ?")
            .bind(partner.display_name.as_str())
            .bind(partner.status.as_str())
            .bind(partner.id.to_string())
            .execute(&self.pool)
            .await;
        match saved {
            Ok(done) if done.rows_affected() == 0 => Err(Error::NotFound(Resource::Partner)),
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation_of(&e, PARTNER_NAME) => Err(Error::AlreadyExists {
                reason: Reason::PartnerExists,
                message: "another partner has this name".to_owned(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn create_partner_key(&self, key: &PartnerKey, key_hash: &str) -> Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO partner_keys (id, partner_id, key_hash, prefix, created_at, revoked_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(key.id.to_string())
        .bind(key.partner_id.to_string())
        .bind(key_hash)
        .bind(key.prefix.as_str())
        .bind(to_micros(key.created_at))
        .bind(key.revoked_at.map(to_micros))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn partner_keys(&self, partner_id: Uuid) -> Result<Vec<PartnerKey>> {
        let rows: Vec<PartnerKeyRow> = sqlx::query_as(
            "SELECT id, partner_id, prefix, created_at, revoked_at FROM partner_keys \
             WHERE partner_id = ? ORDER BY created_at, id",
        )
        .bind(partner_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(PartnerKey::try_from).collect()
    }

    async fn partner_key(&self, partner_id: Uuid, key_id: Uuid) -> Result<Option<PartnerKey>> {
        let row: Option<PartnerKeyRow> = sqlx::query_as(
            "SELECT id, partner_id, prefix, created_at, revoked_at FROM partner_keys \
             WHERE id = ? AND partner_id = ?",
        )
        .bind(key_id.to_string())
        .bind(partner_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(PartnerKey::try_from).transpose()
    }

    async fn revoke_partner_key(
        &self,
        partner_id: Uuid,
        key_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE partner_keys SET revoked_at = ? \
             WHERE id = ? AND partner_id = ? AND revoked_at IS NULL",
        )
        .bind(to_micros(now))
        .bind(key_id.to_string())
        .bind(partner_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn partner_key_by_hash(&self, key_hash: &str) -> Result<Option<(Partner, PartnerKey)>> {
        let row: Option<KeyWithPartnerRow> = sqlx::query_as(
            "SELECT k.id AS id, k.partner_id AS partner_id, k.prefix AS prefix, \
             k.created_at AS created_at, k.revoked_at AS revoked_at, \
             p.display_name AS partner_display_name, p.status AS partner_status, \
             p.created_at AS partner_created_at \
             FROM partner_keys k JOIN partners p ON p.id = k.partner_id WHERE k.key_hash = ?",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(<(Partner, PartnerKey)>::try_from).transpose()
    }
}
