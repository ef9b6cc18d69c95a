//! Partners (carriers and resellers) and their API keys: admin work, except that a
//! partner may read itself.

use super::Services;
use crate::{
    domain::{
        page::{Page, PageRequest},
        partner::{Partner, PartnerKey, PartnerStatus, certificate_credential},
        principal::Principal,
        secret::{TokenKind, new_token, token_hash},
    },
    error::{Error, Resource, Result},
};
use uuid::Uuid;

impl Services {
    /// Registers a partner. Errors: `AlreadyExists` (PARTNER_EXISTS).
    pub async fn create_partner(&self, display_name: &str) -> Result<Partner> {
        let partner = Partner {
            id: Uuid::now_v7(),
            display_name: display_name.to_owned(),
            status: PartnerStatus::Active,
            created_at: self.now(),
        };
        self.store.create_partner(&partner).await?;
        Ok(partner)
    }

    /// A partner the caller may see. Errors: `NotFound` (Partner).
    pub async fn get_partner(&self, principal: Principal, id: Uuid) -> Result<Partner> {
        if !principal.sees_partner(id) {
            return Err(Error::NotFound(Resource::Partner));
        }
        self.store
            .partner(id)
            .await?
            .ok_or(Error::NotFound(Resource::Partner))
    }

    /// Partners by name.
    pub async fn list_partners(&self, page: &PageRequest) -> Result<Page<Partner>> {
        self.store.list_partners(page).await
    }

    /// Renames a partner and/or changes its status. Errors: `NotFound`; `AlreadyExists`
    /// (PARTNER_EXISTS).
    pub async fn update_partner(
        &self,
        id: Uuid,
        display_name: Option<String>,
        status: Option<PartnerStatus>,
    ) -> Result<Partner> {
        let mut partner = self.get_partner(Principal::Admin, id).await?;
        if let Some(name) = display_name {
            partner.display_name = name;
        }
        if let Some(status) = status {
            partner.status = status;
        }
        self.store.save_partner(&partner).await?;
        Ok(partner)
    }

    /// Creates an API key for a partner: its record and the secret, shown once.
    /// Errors: `NotFound` (Partner).
    pub async fn create_partner_key(&self, partner_id: Uuid) -> Result<(PartnerKey, String)> {
        self.get_partner(Principal::Admin, partner_id).await?;
        let api_key = new_token(TokenKind::PartnerKey);
        let key = PartnerKey::new(partner_id, &api_key, self.now());
        self.store
            .create_partner_key(&key, &token_hash(&api_key))
            .await?;
        Ok((key, api_key))
    }

    /// Binds a client certificate (DER) to a partner: a connection presenting it (over
    /// mutual TLS) authenticates as the partner without an API key. The binding is one
    /// of the partner's keys, revoked like any other. Errors: `NotFound` (Partner);
    /// `InvalidArgument` (certificate) when it is bound already.
    pub async fn bind_partner_certificate(
        &self,
        partner_id: Uuid,
        certificate_der: &[u8],
    ) -> Result<PartnerKey> {
        self.get_partner(Principal::Admin, partner_id).await?;
        let credential = certificate_credential(certificate_der);
        let hash = token_hash(&credential);
        if let Some((_, key)) = self.store.partner_key_by_hash(&hash).await? {
            return Err(Error::invalid(
                "certificate",
                format!(
                    "is bound already, as partners/{}/keys/{}{}",
                    key.partner_id,
                    key.id,
                    if key.revoked_at.is_some() {
                        " (revoked: a revoked certificate cannot be bound again)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let key = PartnerKey::new(partner_id, &credential, self.now());
        self.store.create_partner_key(&key, &hash).await?;
        Ok(key)
    }

    /// Revokes a key; revoking a revoked key returns it unchanged.
    /// Errors: `NotFound` (PartnerKey).
    pub async fn revoke_partner_key(&self, partner_id: Uuid, key_id: Uuid) -> Result<PartnerKey> {
        self.store
            .revoke_partner_key(partner_id, key_id, self.now())
            .await?;
        self.store
            .partner_key(partner_id, key_id)
            .await?
            .ok_or(Error::NotFound(Resource::PartnerKey))
    }

    /// A partner by `partners/{id}` or display name (the command line).
    /// Errors: `NotFound` (Partner).
    pub async fn partner_named(&self, id_or_display_name: Result<Uuid, &str>) -> Result<Partner> {
        match id_or_display_name {
            Ok(id) => self.get_partner(Principal::Admin, id).await,
            Err(name) => self
                .store
                .partner_by_name(name)
                .await?
                .ok_or(Error::NotFound(Resource::Partner)),
        }
    }
}
