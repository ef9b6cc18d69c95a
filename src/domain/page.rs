//! Keyset pagination: page tokens are opaque to callers and name the last row returned.

use crate::error::{Error, Result};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// The default and largest page sizes.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Largest page size accepted.
pub const MAX_PAGE_SIZE: i64 = 100;

/// A validated page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows to return.
    pub size: i64,
    /// Resume after this row: its sort key and id.
    pub after: Option<(i64, String)>,
}

impl PageRequest {
    /// Validates `page_size` and `page_token`.
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self> {
        let size = match i64::from(page_size) {
            0 => DEFAULT_PAGE_SIZE,
            n if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => return Err(Error::invalid("page_size", "must be between 0 and 100")),
        };
        let after = if page_token.is_empty() {
            None
        } else {
            Some(decode(page_token).ok_or_else(|| Error::invalid("page_token", "is not valid"))?)
        };
        Ok(Self { size, after })
    }
}

/// A page of results and the token for the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Empty on the last page.
    pub next_page_token: String,
}

impl<T> Page<T> {
    /// Builds a page from up to `size + 1` fetched rows: the extra row only says that
    /// another page exists.
    pub fn from_rows(mut rows: Vec<T>, size: i64, key: impl Fn(&T) -> (i64, String)) -> Self {
        let more = rows.len() as i64 > size;
        rows.truncate(size as usize);
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => encode(&key(last)),
            _ => String::new(),
        };
        Self {
            items: rows,
            next_page_token,
        }
    }
}

fn encode((sort, id): &(i64, String)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{sort}:{id}"))
}

fn decode(token: &str) -> Option<(i64, String)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (sort, id) = raw.split_once(':')?;
    // The id is bound in a query: the text rule holds for it as for any filter.
    super::text::ensure_no_control("page_token", id).ok()?;
    Some((sort.parse().ok()?, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_the_last_row_of_a_full_page() {
        let page = Page::from_rows(vec![(1, "a"), (2, "b"), (3, "c")], 2, |r| {
            (r.0, r.1.to_owned())
        });
        assert_eq!(page.items.len(), 2);
        let next = PageRequest::parse(2, &page.next_page_token).unwrap();
        assert_eq!(next.after, Some((2, "b".to_owned())));
    }

    #[test]
    fn garbage_tokens_and_sizes_are_rejected() {
        assert!(PageRequest::parse(0, "not-a-token!").is_err());
        assert!(PageRequest::parse(101, "").is_err());
        assert!(PageRequest::parse(-1, "").is_err());
    }
}
