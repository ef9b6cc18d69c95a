//! Who is behind a bearer token. A token's prefix says what it claims to be; the store
//! says whether it is live.

use super::Services;
use crate::{
    domain::{
        partner::certificate_credential,
        principal::Principal,
        secret::{TokenKind, constant_time_eq, token_hash},
    },
    error::Result,
};

impl Services {
    /// The principal behind `token`, or `None` when the token is unknown, expired or
    /// revoked (or an admin token while admin access is off).
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>> {
        let hash = token_hash(token);
        Ok(match TokenKind::of(token) {
            Some(TokenKind::Session) => {
                let now = self.now();
                self.store
                    .session(&hash)
                    .await?
                    .filter(|(_, expires_at)| *expires_at > now)
                    .map(|(account, _)| Principal::Account(account))
            }
            Some(TokenKind::Device) => self.store.device_principal(&hash).await?,
            Some(TokenKind::PartnerKey) => self
                .store
                .partner_key_by_hash(&hash)
                .await?
                .filter(|(partner, key)| partner.key_works(key))
                .map(|(partner, _)| Principal::Partner(partner.id)),
            None => self
                .policy
                .admin_token_hash
                .as_ref()
                .filter(|admin| constant_time_eq(admin.as_bytes(), hash.as_bytes()))
                .map(|_| Principal::Admin),
        })
    }

    /// The partner a verified client certificate is bound to (`bind_partner_certificate`),
    /// or `None` when it is bound to none, its binding was revoked or the partner is
    /// disabled.
    pub async fn authenticate_certificate(
        &self,
        certificate_der: &[u8],
    ) -> Result<Option<Principal>> {
        let hash = token_hash(&certificate_credential(certificate_der));
        Ok(self
            .store
            .partner_key_by_hash(&hash)
            .await?
            .filter(|(partner, key)| partner.key_works(key))
            .map(|(partner, _)| Principal::Partner(partner.id)))
    }
}
