//! What both backends' row models share: the row of a stored request, reading a stored
//! enum's text, and converting a batch of rows. The rows that differ by column type live
//! in `sqlite/rows.rs` and `postgres/rows.rs`.

use crate::{
    domain::idempotency::StoredRequest,
    error::{Error, Result},
};

/// `idempotency_keys`, as a replay needs it (text columns on both backends).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StoredRequestRow {
    fingerprint: String,
    response: String,
}

impl From<StoredRequestRow> for StoredRequest {
    fn from(row: StoredRequestRow) -> Self {
        Self {
            fingerprint: row.fingerprint,
            response: row.response,
        }
    }
}

/// A stored enum's text read back; an unknown value is `Internal`, naming the column.
pub(crate) fn stored<T>(column: &str, text: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(text).ok_or_else(|| Error::Internal(format!("bad {column} {text:?} in the database")))
}

/// Converts fetched rows, stopping at the first bad one.
pub(crate) fn convert<R, T>(rows: Vec<R>) -> Result<Vec<T>>
where
    T: TryFrom<R, Error = Error>,
{
    rows.into_iter().map(T::try_from).collect()
}
