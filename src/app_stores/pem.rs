//! The DER inside a PEM block (RFC 7468): the Play service account's PKCS#8 key
//! (`PRIVATE KEY`) and an App Store root given as PEM (`CERTIFICATE`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

/// Why a text gave no DER for a label.
#[derive(Debug)]
pub enum PemError {
    /// No `-----BEGIN {label}-----` line: not PEM of this kind (perhaps DER already).
    NoBlock,
    /// A `-----BEGIN {label}-----` line without its `-----END {label}-----`.
    Unterminated,
    /// The text between the two lines is not base64.
    Base64(base64::DecodeError),
}

impl fmt::Display for PemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoBlock => f.write_str("no BEGIN line"),
            Self::Unterminated => f.write_str("no END line"),
            Self::Base64(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PemError {}

/// The DER bytes of the first `label` block in `text` (`"CERTIFICATE"`, `"PRIVATE KEY"`).
/// Text around the block is ignored, as is whitespace inside it.
pub fn decode(text: &str, label: &str) -> Result<Vec<u8>, PemError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(PemError::NoBlock)? + begin.len();
    let length = text[start..].find(&end).ok_or(PemError::Unterminated)?;
    let base64: String = text[start..start + length]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(base64).map_err(PemError::Base64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_der_of_a_block_with_its_line_breaks_and_the_text_around_it() {
        let der: Vec<u8> = (0..=255).collect();
        let body = STANDARD.encode(&der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|chunk| std::str::from_utf8(chunk).unwrap())
            .collect();
        let pem = format!(
            "Bag Attributes: ignored\r\n-----BEGIN CERTIFICATE-----\r\n{}\r\n-----END CERTIFICATE-----\r\n",
            lines.join("\r\n")
        );
        assert_eq!(decode(&pem, "CERTIFICATE").unwrap(), der);
    }

    #[test]
    fn the_first_block_of_the_label_asked_for() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n\
                   -----BEGIN PRIVATE KEY-----\nAwQF\n-----END PRIVATE KEY-----\n\
                   -----BEGIN PRIVATE KEY-----\nBgcI\n-----END PRIVATE KEY-----\n";
        assert_eq!(decode(pem, "PRIVATE KEY").unwrap(), [3, 4, 5]);
        assert_eq!(decode(pem, "CERTIFICATE").unwrap(), [0, 1, 2]);
    }

    #[test]
    fn says_what_is_wrong() {
        let no_block = decode("MIIB just DER-ish text", "CERTIFICATE");
        assert!(matches!(no_block, Err(PemError::NoBlock)), "{no_block:?}");

        let other_label = decode(
            "-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----",
            "PRIVATE KEY",
        );
        assert!(
            matches!(other_label, Err(PemError::NoBlock)),
            "{other_label:?}"
        );

        let unterminated = decode("-----BEGIN PRIVATE KEY-----\nAAEC\n", "PRIVATE KEY");
        assert!(
            matches!(unterminated, Err(PemError::Unterminated)),
            "{unterminated:?}"
        );

        let not_base64 = decode(
            "-----BEGIN CERTIFICATE-----\n*not base64*\n-----END CERTIFICATE-----",
            "CERTIFICATE",
        );
        assert!(
            matches!(not_base64, Err(PemError::Base64(_))),
            "{not_base64:?}"
        );
    }
}
