//! Partners, their API keys, and the server's secrets.

use super::{Store, is_unique_violation, parse_uuid};
use crate::{
    domain::{
        access::Access,
        clock::{from_micros, to_micros},
        page::{Page, PageRequest},
        partner::{KEY_PREFIX_LEN, Partner, PartnerKey, PartnerStatus},
        secret::random_bytes,
    },
    error::{Error, Result},
};
use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use uuid::Uuid;

fn partner(row: &AnyRow) -> Result<Partner> {
    let status: String = row.try_get("status")?;
    Ok(Partner {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        display_name: row.try_get("display_name")?,
        status: PartnerStatus::parse(&status)
            .ok_or_else(|| Error::Internal(format!("bad partner status {status:?}")))?,
        created_at: from_micros(row.try_get("created_at")?),
    })
}

fn partner_key(row: &AnyRow) -> Result<PartnerKey> {
    Ok(PartnerKey {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        partner_id: parse_uuid(&row.try_get::<String, _>("partner_id")?)?,
        prefix: row.try_get("prefix")?,
        created_at: from_micros(row.try_get("created_at")?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(from_micros),
    })
}

impl Store {
    /// Registers a partner. Errors: `AlreadyExists` (PARTNER_EXISTS) for a taken name.
    pub async fn create_partner(&self, display_name: &str, now: DateTime<Utc>) -> Result<Partner> {
        let partner = Partner {
            id: Uuid::now_v7(),
            display_name: display_name.to_owned(),
            status: PartnerStatus::Active,
            created_at: now,
        };
        let inserted = self.write_one(sqlx::query(
            "INSERT INTO partners (id, display_name, status, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(partner.id.to_string())
        .bind(partner.display_name.clone())
        .bind(partner.status.as_str())
        .bind(to_micros(now))
        )
        .await;
        match inserted {
            Ok(_) => Ok(partner),
            Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists {
                reason: "PARTNER_EXISTS",
                message: format!("a partner named {display_name:?} exists already"),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// A partner the caller may see: the admin any, a partner itself.
    pub async fn get_partner(&self, access: Access, id: Uuid) -> Result<Partner> {
        let visible = match access {
            Access::Admin => true,
            Access::Partner(own) => own == id,
            _ => false,
        };
        if !visible {
            return Err(Error::NotFound("partner"));
        }
        let row =
            sqlx::query("SELECT id, display_name, status, created_at FROM partners WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .ok_or(Error::NotFound("partner"))?;
        partner(&row)
    }

    /// Renames a partner and/or changes its status. Errors: `NotFound`; `AlreadyExists`
    /// (PARTNER_EXISTS) for a taken name.
    pub async fn update_partner(
        &self,
        id: Uuid,
        display_name: Option<&str>,
        status: Option<PartnerStatus>,
    ) -> Result<Partner> {
        let updated = self
            .write_one(
                sqlx::query(
                    "UPDATE partners SET display_name = COALESCE($2, display_name), \
                     status = COALESCE($3, status) WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(display_name.map(str::to_owned))
                .bind(status.map(|s| s.as_str().to_owned())),
            )
            .await;
        match updated {
            Ok(done) if done.rows_affected() == 0 => Err(Error::NotFound("partner")),
            Ok(_) => self.get_partner(Access::Admin, id).await,
            Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists {
                reason: "PARTNER_EXISTS",
                message: "another partner has this name".to_owned(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// A partner by its display name (for the command line).
    pub async fn partner_by_name(&self, display_name: &str) -> Result<Partner> {
        let row = sqlx::query(
            "SELECT id, display_name, status, created_at FROM partners WHERE display_name = $1",
        )
        .bind(display_name.to_owned())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound("partner"))?;
        partner(&row)
    }

    /// Partners by name.
    pub async fn list_partners(&self, page: &PageRequest) -> Result<Page<Partner>> {
        let after = page.after.clone().map(|(_, name)| name).unwrap_or_default();
        let rows = sqlx::query(
            "SELECT id, display_name, status, created_at FROM partners \
             WHERE display_name > $1 ORDER BY display_name LIMIT $2",
        )
        .bind(after)
        .bind(page.size + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(partner).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size, |p| {
            (0, p.display_name.clone())
        }))
    }

    /// Stores the hash of a new API key for a partner.
    pub async fn create_partner_key(
        &self,
        partner_id: Uuid,
        api_key: &str,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<PartnerKey> {
        self.get_partner(Access::Admin, partner_id).await?;
        let key = PartnerKey {
            id: Uuid::now_v7(),
            partner_id,
            prefix: api_key.chars().take(KEY_PREFIX_LEN).collect(),
            created_at: now,
            revoked_at: None,
        };
        self.write_one(
            sqlx::query(
                "INSERT INTO partner_keys (id, partner_id, key_hash, prefix, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(key.id.to_string())
            .bind(partner_id.to_string())
            .bind(key_hash.to_owned())
            .bind(key.prefix.clone())
            .bind(to_micros(now)),
        )
        .await?;
        Ok(key)
    }

    /// Revokes a key; revoking a revoked key returns it unchanged.
    pub async fn revoke_partner_key(
        &self,
        partner_id: Uuid,
        key_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<PartnerKey> {
        self.write_one(
            sqlx::query(
                "UPDATE partner_keys SET revoked_at = $3 \
             WHERE id = $1 AND partner_id = $2 AND revoked_at IS NULL",
            )
            .bind(key_id.to_string())
            .bind(partner_id.to_string())
            .bind(to_micros(now)),
        )
        .await?;
        let row = sqlx::query(
            "SELECT id, partner_id, prefix, created_at, revoked_at FROM partner_keys \
             WHERE id = $1 AND partner_id = $2",
        )
        .bind(key_id.to_string())
        .bind(partner_id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound("partner key"))?;
        partner_key(&row)
    }

    /// The partner behind an API key, if the key is live and the partner active.
    pub async fn partner_access(&self, key_hash: &str) -> Result<Option<Access>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT p.id FROM partner_keys k JOIN partners p ON p.id = k.partner_id \
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND p.status = 'ACTIVE'",
        )
        .bind(key_hash.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        id.as_deref()
            .map(|id| parse_uuid(id).map(Access::Partner))
            .transpose()
    }

    /// The server secret `name`, created at random on first use. Replicas sharing a
    /// database agree on it: the first writer wins.
    pub async fn server_secret(&self, name: &str) -> Result<Vec<u8>> {
        let fresh = crate::domain::idempotency::hex(&random_bytes::<32>());
        self.write_one(sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_owned())
        .bind(fresh)
        )
        .await?;
        let value: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name.to_owned())
            .fetch_one(&self.pool)
            .await?;
        Ok(value.into_bytes())
    }
}
