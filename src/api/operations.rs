//! Operations shared by the admin RPCs and the `tessera` command line, so both take the
//! same path: opening the service context, issuing partner keys and product keys.

use super::context::Context;
use crate::{
    app_stores::{
        apple::{AppleConfig, AppleVerifier},
        google::{PlayConfig, PlayVerifier},
    },
    domain::{
        access::Access,
        clock::Clock,
        codes::CodeKind,
        partner::PartnerKey,
        plan,
        redemption::{CodeHasher, ProductKeyKind, ThrottlePolicy},
        secret::{TokenKind, new_token, token_hash},
    },
    error::{Error, Result},
    settings::Settings,
    store::{IssuedProductKey, Store},
};
use std::sync::Arc;
use uuid::Uuid;

/// Most product keys issued in one batch.
pub const MAX_KEYS_PER_BATCH: u32 = 10_000;

impl Context {
    /// Connects to the database, applies migrations and loads the secrets.
    pub async fn open(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self> {
        let store = Store::connect(&settings.database_url).await?;
        store.migrate().await?;
        let secret = match &settings.secret_key {
            Some(key) if !key.is_empty() => key.as_bytes().to_vec(),
            _ => store.server_secret("code_hash_key").await?,
        };
        Ok(Self {
            store,
            clock,
            admin_token_hash: settings.admin_token.as_deref().map(token_hash),
            session_ttl: chrono::Duration::hours(i64::from(settings.session_ttl_hours)),
            partner_code_ttl: chrono::Duration::days(i64::from(settings.partner_code_ttl_days)),
            code_hasher: CodeHasher::new(&secret),
            throttle: ThrottlePolicy {
                per_account: i64::from(settings.redeem_account_limit),
                per_peer: i64::from(settings.redeem_peer_limit),
                window: chrono::Duration::minutes(i64::from(settings.redeem_window_minutes)),
            },
            grace: chrono::Duration::days(i64::from(settings.grace_days)),
            warning_window: chrono::Duration::days(i64::from(settings.expiry_warning_days)),
            event_poll_interval: std::time::Duration::from_millis(u64::from(
                settings.event_poll_interval_ms,
            )),
            apple: apple_verifier(settings)?.map(Arc::new),
            play: play_verifier(settings)?.map(Arc::new),
        })
    }

    /// Creates an API key for a partner: its record and the secret, shown once.
    pub async fn create_partner_key(&self, partner_id: Uuid) -> Result<(PartnerKey, String)> {
        let api_key = new_token(TokenKind::PartnerKey);
        let key = self
            .store
            .create_partner_key(partner_id, &api_key, &token_hash(&api_key), self.now())
            .await?;
        Ok((key, api_key))
    }

    /// Issues `count` product keys for a plan; returns them in grouped form, once.
    pub async fn issue_product_keys(
        &self,
        plan_name: &str,
        count: u32,
        kind: ProductKeyKind,
        batch_label: &str,
    ) -> Result<Vec<String>> {
        let plan = plan::parse("plan", plan_name)?;
        if !(1..=MAX_KEYS_PER_BATCH).contains(&count) {
            return Err(Error::invalid("count", "must be between 1 and 10000"));
        }
        let label = batch_label.trim();
        if label.is_empty() || label.chars().count() > 100 {
            return Err(Error::invalid("batch_label", "must be 1 to 100 characters"));
        }
        let keys: Vec<String> = (0..count)
            .map(|_| CodeKind::ProductKey.generate())
            .collect();
        let hashed: Vec<IssuedProductKey> = keys
            .iter()
            .map(|key| IssuedProductKey {
                hash: self.code_hasher.hash(key),
            })
            .collect();
        self.store
            .issue_product_keys(plan.code, kind, label, &hashed, self.now())
            .await?;
        Ok(keys)
    }

    /// Resolves `partners/{id}` or a display name to a partner id (command line).
    pub async fn partner_id(&self, name_or_display_name: &str) -> Result<Uuid> {
        if name_or_display_name.starts_with("partners/") {
            let id = super::names::partner("partner", name_or_display_name, Access::Admin)?;
            Ok(self.store.get_partner(Access::Admin, id).await?.id)
        } else {
            Ok(self.store.partner_by_name(name_or_display_name).await?.id)
        }
    }
}

fn read_config_file(what: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Internal(format!("reading {what} {}: {e}", path.display())))
}

/// The App Store verifier, when a bundle id is configured.
fn apple_verifier(settings: &Settings) -> Result<Option<AppleVerifier>> {
    let Some(bundle_id) = settings.apple_bundle_id.clone().filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let mut config = AppleConfig::with_apple_root(bundle_id, settings.apple_environment.clone());
    if let Some(path) = &settings.apple_root_certificate {
        let bytes = read_config_file("the App Store root certificate", path)?;
        config.root_certificate_der = pem_or_der(&bytes)?;
    }
    Ok(Some(AppleVerifier::new(config)))
}

/// DER bytes from a DER or PEM certificate file.
fn pem_or_der(bytes: &[u8]) -> Result<Vec<u8>> {
    use crate::app_stores::pem::{PemError, decode};
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    match decode(text, "CERTIFICATE") {
        Ok(der) => Ok(der),
        Err(PemError::NoBlock) => Ok(bytes.to_vec()),
        Err(e) => Err(Error::Internal(format!(
            "the App Store root certificate is not valid PEM: {e}"
        ))),
    }
}

/// The Play verifier, when a package name and a service account are configured.
fn play_verifier(settings: &Settings) -> Result<Option<PlayVerifier>> {
    let (Some(package), Some(path)) = (
        &settings.play_package_name,
        &settings.play_service_account_file,
    ) else {
        return Ok(None);
    };
    let key = read_config_file("the Play service account", path)?;
    let mut config = PlayConfig::new(package.clone(), String::from_utf8_lossy(&key).into_owned());
    config.api_base_url = settings.play_api_base_url.clone();
    config.token_uri_override = settings.play_token_uri.clone();
    config.accept_test_purchases = settings.play_accept_test_purchases;
    PlayVerifier::new(config).map(Some)
}
