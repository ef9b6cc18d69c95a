//! The administrative sub-commands of `tessera`: the same operations as the admin RPCs,
//! run directly against the database.

use crate::{
    api::names,
    app::open_services_now,
    domain::{partner::certificate_credential, principal::Principal, redemption::ProductKeyKind},
    error::{Error, Result},
    settings::{
        KeyKindArg, KeysCommand, PartnerCertCommand, PartnerCommand, PartnerKeyCommand, Settings,
    },
};
use std::io::Write;

/// Runs `tessera partner …`, writing what the operator needs to `out`.
pub async fn partner(
    settings: &Settings,
    command: PartnerCommand,
    out: &mut impl Write,
) -> Result<()> {
    let services = open_services_now(settings).await?;
    match command {
        PartnerCommand::Create { name } => {
            let partner = services.create_partner(name.trim()).await?;
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
async fn partner_id(services: &crate::service::Services, partner: &str) -> Result<uuid::Uuid> {
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

/// Runs `tessera keys …`.
pub async fn keys(settings: &Settings, command: KeysCommand) -> Result<()> {
    let services = open_services_now(settings).await?;
    match command {
        KeysCommand::Issue {
            plan,
            count,
            kind,
            batch,
            out,
        } => {
            let kind = match kind {
                KeyKindArg::New => ProductKeyKind::New,
                KeyKindArg::Renewal => ProductKeyKind::Renewal,
            };
            let keys = services
                .issue_product_keys(&plan, count, kind, &batch)
                .await?;
            let mut csv = String::from("product_key,plan,kind,batch\n");
            for key in &keys {
                csv.push_str(&format!(
                    "{key},{plan},{},{}\n",
                    kind.as_str(),
                    batch.replace([',', '"', '\n'], " ")
                ));
            }
            if out == "-" {
                std::io::stdout().write_all(csv.as_bytes()).map_err(io)?;
            } else {
                std::fs::write(&out, csv).map_err(io)?;
                eprintln!("{} keys written to {out}", keys.len());
            }
        }
    }
    services.store.close().await;
    Ok(())
}

fn io(error: std::io::Error) -> Error {
    Error::Internal(format!("writing output: {error}"))
}
