//! The administrative sub-commands of `tessera`: the same operations as the admin RPCs,
//! run directly against the database.

use crate::{
    api::{context::Context, names},
    domain::{access::Access, clock::SystemClock, redemption::ProductKeyKind},
    error::{Error, Result},
    settings::{KeyKindArg, KeysCommand, PartnerCommand, PartnerKeyCommand, Settings},
};
use std::{io::Write, sync::Arc};

/// Runs `tessera partner …`, writing what the operator needs to `out`.
pub async fn partner(
    settings: &Settings,
    command: PartnerCommand,
    out: &mut impl Write,
) -> Result<()> {
    let ctx = Context::open(settings, Arc::new(SystemClock)).await?;
    match command {
        PartnerCommand::Create { name } => {
            let partner = ctx.store.create_partner(name.trim(), ctx.now()).await?;
            writeln!(out, "partners/{}\t{}", partner.id, partner.display_name).map_err(io)?;
        }
        PartnerCommand::Key(PartnerKeyCommand::Create { partner }) => {
            let id = ctx.partner_id(&partner).await?;
            let (key, api_key) = ctx.create_partner_key(id).await?;
            writeln!(out, "partners/{}/keys/{}", key.partner_id, key.id).map_err(io)?;
            writeln!(out, "{api_key}").map_err(io)?;
        }
        PartnerCommand::Key(PartnerKeyCommand::Revoke { key }) => {
            let (partner, key) = names::partner_key("key", &key)?;
            ctx.store.get_partner(Access::Admin, partner).await?;
            let key = ctx
                .store
                .revoke_partner_key(partner, key, ctx.now())
                .await?;
            writeln!(out, "partners/{}/keys/{} revoked", key.partner_id, key.id).map_err(io)?;
        }
    }
    ctx.store.close().await;
    Ok(())
}

/// Runs `tessera keys …`.
pub async fn keys(settings: &Settings, command: KeysCommand) -> Result<()> {
    let ctx = Context::open(settings, Arc::new(SystemClock)).await?;
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
            let keys = ctx.issue_product_keys(&plan, count, kind, &batch).await?;
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
    ctx.store.close().await;
    Ok(())
}

fn io(error: std::io::Error) -> Error {
    Error::Internal(format!("writing output: {error}"))
}
