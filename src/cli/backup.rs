//! `tessera backup --to FILE`: a consistent copy of the SQLite database, taken while the
//! server runs. PostgreSQL has its own tools (pg_dump); the README tells how.

use super::require_existing_database;
use crate::{
    error::{Error, Result},
    settings::Settings,
    store::{Backend, redacted, sqlite},
};
use std::path::Path;

/// Backs the SQLite database up into `to`, which must not exist; reports on `out`.
pub async fn backup(settings: &Settings, to: &Path, out: &mut impl std::io::Write) -> Result<()> {
    let url = &settings.database_url;
    if Backend::of_url(url)? == Backend::Postgres {
        return Err(Error::Internal(format!(
            "tessera backup copies SQLite databases; back {} up with pg_dump \
             (pg_dump --format=custom --file=tessera.dump …), as the README's \
             \"Backup and restore\" says",
            redacted(url)
        )));
    }
    require_existing_database(url)?;
    let bytes = sqlite::backup(url, to).await?;
    writeln!(
        out,
        "{} backed up into {} ({bytes} bytes)",
        url,
        to.display()
    )
    .map_err(super::io)
}
