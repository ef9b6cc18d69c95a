//! Text from callers: the one rule for every string Tessera stores or filters by.
//!
//! No such string may hold a control character (Unicode category Cc: NUL and the rest
//! of C0, tab and line breaks included, DEL, and C1). None of the fields has a use for
//! them — names, labels and references are single lines shown in lists and portals,
//! where a tab or a line break would only break the layout — and both backends must
//! treat a string the same: PostgreSQL cannot store NUL in text at all, SQLite stores it
//! as is. Format characters (Cf: zero-width joiners in emoji, bidirectional marks in
//! right-to-left names) are text and stay allowed.
//!
//! Fields that are parsed rather than kept (resource names, codes, keys, proofs) are
//! refused by their parsers, which accept a narrower alphabet still.

use crate::error::{Error, Result};

/// Refuses text with a control character (see the module's documentation).
/// Errors: `InvalidArgument` on `field`.
pub fn ensure_no_control(field: &'static str, text: &str) -> Result<()> {
    if text.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// A single line of text: trimmed of surrounding white space, at most `max_chars`
/// characters, no control characters; required unless `optional`, in which case it may
/// be empty.
/// Errors: `InvalidArgument` on `field`.
pub fn single_line(
    field: &'static str,
    raw: &str,
    max_chars: usize,
    optional: bool,
) -> Result<String> {
    ensure_no_control(field, raw)?;
    let text = raw.trim();
    if text.is_empty() && !optional {
        return Err(Error::invalid(field, "is required"));
    }
    if text.chars().count() > max_chars {
        return Err(Error::invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_and_format_characters_kept() {
        for bad in [
            "a\0b",
            "tab\there",
            "line\nbreak",
            "\u{1b}[31m",
            "del\u{7f}",
            "c1\u{85}",
        ] {
            let refused = single_line("display_name", bad, 100, false).unwrap_err();
            assert!(
                matches!(
                    refused,
                    Error::InvalidArgument {
                        field: "display_name",
                        ..
                    }
                ),
                "{bad:?} accepted"
            );
        }
        let family = "👨\u{200d}👩\u{200d}👧";
        assert_eq!(single_line("f", family, 100, false).unwrap(), family);
        assert_eq!(
            single_line("f", "  Ann's laptop ", 100, false).unwrap(),
            "Ann's laptop"
        );
    }

    #[test]
    fn length_and_presence_are_checked_after_trimming() {
        assert!(single_line("f", "   ", 10, false).is_err());
        assert_eq!(single_line("f", "   ", 10, true).unwrap(), "");
        assert!(single_line("f", &"é".repeat(11), 10, false).is_err());
        assert!(single_line("f", &"é".repeat(10), 10, false).is_ok());
    }
}
