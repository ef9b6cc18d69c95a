//! The operator's sub-commands of `tessera`: partners and product keys (the same
//! operations as the admin RPCs), support look-ups, backups and the health probe, run
//! directly against the database through the service layer.
//!
//! Every command but `serve` and `migrate` works on an existing database: run from the
//! wrong directory, `sqlite:tessera.db` would otherwise create an empty one there.

mod backup;
mod health;
mod keys;
mod support;

pub use backup::backup;
pub use health::health;
pub use keys::keys;
pub use support::support;

use crate::{
    api::names,
    app::open_services_now,
    domain::{account::parse_display_name, partner::certificate_credential, principal::Principal},
    error::{Error, Result},
    service::Services,
    settings::{PartnerCertCommand, PartnerCommand, PartnerKeyCommand, Settings},
    store::{Backend, sqlite},
};
use std::io::Write;

/// Runs `tessera partner …`, writing what the operator needs to `out`.
pub async fn partner(
    settings: &Settings,
    command: PartnerCommand,
    out: &mut impl Write,
) -> Result<()> {
    let services = open_existing(settings).await?;
    match command {
        PartnerCommand::Create { name } => {
            let name = parse_display_name("name", &name, true)?;
            let partner = services.create_partner(&name).await?;
            writeln!(out, "partners/{}\t{}", partner.id, partner.display_name).map_err(io)?;
        }
        PartnerCommand::Key(PartnerKeyCommand::Create { partner }) => {
            let id = partner_id(&services, &partner).await?;
            let (key, api_key) = services.create_partner_key(id).await?;
            writeln!(out, "partners/{}/keys/{}", key.partner_id, key.id).map_err(io)?;
            writeln!(out, "{api_key}").map_err(io)?;
        }
        PartnerCommand::Cert(PartnerCertCommand::Add {
            partner,
            certificate,
        }) => {
            let id = partner_id(&services, &partner).await?;
            let der = certificate_der(&certificate)?;
            let key = services.bind_partner_certificate(id, &der).await?;
            writeln!(out, "partners/{}/keys/{}", key.partner_id, key.id).map_err(io)?;
            writeln!(out, "{}", certificate_credential(&der)).map_err(io)?;
        }
        PartnerCommand::Key(PartnerKeyCommand::Revoke { key }) => {
            let (partner, key) = names::partner_key("key", &key)?;
            services.get_partner(Principal::Admin, partner).await?;
            let key = services.revoke_partner_key(partner, key).await?;
            writeln!(out, "partners/{}/keys/{} revoked", key.partner_id, key.id).map_err(io)?;
        }
    }
    services.store.close().await;
    Ok(())
}

/// The id of a partner named by `partners/{id}` or its display name.
async fn partner_id(services: &Services, partner: &str) -> Result<uuid::Uuid> {
    let named = if partner.starts_with("partners/") {
        Ok(names::partner("partner", partner, Principal::Admin)?)
    } else {
        Err(partner)
    };
    Ok(services.partner_named(named).await?.id)
}

/// The DER encoding of the certificate in a PEM or DER file, checked to be one.
fn certificate_der(path: &std::path::Path) -> Result<Vec<u8>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Internal(format!("reading the certificate {}: {e}", path.display())))?;
    let der = match CertificateDer::from_pem_slice(&bytes) {
        Ok(certificate) => certificate.to_vec(),
        Err(_) => bytes,
    };
    x509_parser::parse_x509_certificate(&der).map_err(|e| {
        Error::Internal(format!(
            "{} is not a PEM or DER X.509 certificate: {e}",
            path.display()
        ))
    })?;
    Ok(der)
}

/// The use cases over the database the settings name, which must exist (see
/// [`require_existing_database`]).
async fn open_existing(settings: &Settings) -> Result<Services> {
    require_existing_database(&settings.database_url)?;
    open_services_now(settings).await
}

/// Refuses an SQLite URL whose file does not exist, naming where it was looked for and
/// how to point at the right one. PostgreSQL URLs and in-memory databases pass.
pub fn require_existing_database(database_url: &str) -> Result<()> {
    if Backend::of_url(database_url)? != Backend::Sqlite {
        return Ok(());
    }
    let Some(path) = sqlite::database_file(database_url)? else {
        return Ok(());
    };
    if path.exists() {
        return Ok(());
    }
    let cwd = std::env::current_dir()
        .map(|dir| dir.display().to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let looked_at = if path.is_absolute() {
        path.display().to_string()
    } else {
        format!(
            "{} (relative to the current directory, {cwd})",
            path.display()
        )
    };
    Err(Error::Internal(format!(
        "there is no database at {looked_at}, which --database-url {database_url} names: \
         run this command where the server's database is, or point at it with \
         --database-url sqlite:/path/to/tessera.db (or TESSERA_DATABASE_URL); \
         `tessera migrate` creates a new database"
    )))
}

/// An error writing the command's output.
fn io(error: std::io::Error) -> Error {
    Error::Internal(format!("writing the output: {error}"))
}
