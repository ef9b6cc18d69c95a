//! `tessera keys issue`: product keys for the card printer, as CSV. The plaintext of a
//! key exists only until it is written out, so the file is written (and flushed to disk)
//! before the keys are committed, and nothing is committed when it cannot be written.

use super::open_existing;
use crate::{
    domain::redemption::ProductKeyKind,
    error::{Error, Result},
    service::redemption::IssuedBatch,
    settings::{KeyKindArg, KeysCommand, Settings},
};
use std::{
    cell::Cell,
    fs::{File, OpenOptions},
    io::Write,
    path::Path,
};

/// Runs `tessera keys …`; `--out -` writes the CSV to `out`.
pub async fn keys(settings: &Settings, command: KeysCommand, out: &mut impl Write) -> Result<()> {
    let services = open_existing(settings).await?;
    match command {
        KeysCommand::Issue {
            plan,
            count,
            kind,
            batch,
            out: target,
        } => {
            let kind = match kind {
                KeyKindArg::New => ProductKeyKind::New,
                KeyKindArg::Renewal => ProductKeyKind::Renewal,
            };
            let delivered = Cell::new(false);
            let issued = if target == "-" {
                let issued = services
                    .issue_product_keys_then(&plan, count, kind, &batch, |batch| {
                        write_csv(&mut *out, batch)
                            .and_then(|out| out.flush())
                            .map_err(|e| {
                                Error::Internal(format!(
                                    "cannot write the keys to standard output: {e}; no keys were \
                                     stored"
                                ))
                            })?;
                        delivered.set(true);
                        Ok(())
                    })
                    .await;
                issued.map_err(|error| match delivered.get() {
                    true => Error::Internal(format!(
                        "the keys printed above were NOT stored ({error}): discard them"
                    )),
                    false => error,
                })
            } else {
                let path = Path::new(&target);
                let issued = services
                    .issue_product_keys_then(&plan, count, kind, &batch, |batch| {
                        write_csv_file(path, batch)?;
                        delivered.set(true);
                        Ok(())
                    })
                    .await;
                match (issued, delivered.get()) {
                    (Ok(keys), _) => {
                        eprintln!("{} keys written to {target}", keys.len());
                        Ok(keys)
                    }
                    (Err(error), true) => {
                        let removed = match std::fs::remove_file(path) {
                            Ok(()) => format!("{target} was removed"),
                            Err(e) => format!("remove {target} ({e}): its keys do not work"),
                        };
                        Err(Error::Internal(format!(
                            "the keys could not be stored ({error}); {removed}"
                        )))
                    }
                    (Err(error), false) => Err(error),
                }
            };
            services.store.close().await;
            issued.map(drop)
        }
    }
}

/// Writes the batch as CSV into a new file, readable by its owner only, and flushes it
/// to disk. Refuses an existing file: it may hold the only copy of earlier keys.
fn write_csv_file(path: &Path, batch: &IssuedBatch<'_>) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| {
        let path = path.display();
        Error::Internal(match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!(
                "{path} exists already, and keys issue never overwrites a file (it may hold the \
                 only copy of earlier keys): choose another --out; no keys were stored"
            ),
            _ => format!(
                "cannot create {path}: {e}; check that its directory exists and is writable; \
                 no keys were stored"
            ),
        })
    })?;
    let written = write_csv(file, batch).and_then(|file: File| file.sync_all());
    written.map_err(|e| {
        let _ = std::fs::remove_file(path);
        Error::Internal(format!(
            "cannot write {}: {e}; it was removed and no keys were stored",
            path.display()
        ))
    })
}

/// The CSV the card printer reads: a header, then one key per line with its plan, kind
/// and batch label (quoted where needed, never altered).
fn write_csv<W: Write>(out: W, batch: &IssuedBatch<'_>) -> std::io::Result<W> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(["product_key", "plan", "kind", "batch"])?;
    for key in batch.keys {
        csv.write_record([
            key.as_str(),
            batch.plan_code,
            batch.kind.as_str(),
            batch.batch_label,
        ])?;
    }
    csv.into_inner().map_err(|e| e.into_error())
}
