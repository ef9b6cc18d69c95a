//! Human-typable secrets: retail product keys and carrier partner codes.
//!
//! Both use one 31-character alphabet without look-alikes (no 0/O, 1/I/L) and end in a
//! check character: the sum of each character's value times its position (1, 2, …),
//! modulo 31. With a prime modulus and distinct weights, every single mistyped character
//! and every swap of two characters is caught before any database read.

use super::secret::random_bytes;
use crate::error::{Error, Reason, Result};

/// The alphabet, in value order.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// The two kinds of code and their shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// 25 characters in five groups of five: 24 random (118 bits) and a check character.
    ProductKey,
    /// 15 characters in three groups of five: 14 random (69 bits) and a check character.
    PartnerCode,
}

impl CodeKind {
    fn random_len(self) -> usize {
        match self {
            CodeKind::ProductKey => 24,
            CodeKind::PartnerCode => 14,
        }
    }

    fn field(self) -> &'static str {
        match self {
            CodeKind::ProductKey => "product_key",
            CodeKind::PartnerCode => "partner_code",
        }
    }

    fn malformed_reason(self) -> Reason {
        match self {
            CodeKind::ProductKey => Reason::ProductKeyMalformed,
            CodeKind::PartnerCode => Reason::PartnerCodeMalformed,
        }
    }

    /// Characters of a code, check character included.
    pub fn char_count(self) -> usize {
        self.random_len() + 1
    }

    /// A fresh code, grouped by five with dashes.
    pub fn generate(self) -> String {
        let mut chars = Vec::with_capacity(self.char_count());
        while chars.len() < self.random_len() {
            // Rejection sampling keeps every character equally likely: 248 = 8 × 31.
            for byte in random_bytes::<32>() {
                if byte < 248 && chars.len() < self.random_len() {
                    chars.push(ALPHABET[usize::from(byte % 31)]);
                }
            }
        }
        chars.push(check_char(&chars));
        group(&chars)
    }

    /// Normalises user input (case, spaces, dashes) and verifies length, alphabet and
    /// check character. Returns the canonical grouped form.
    /// Errors: `InvalidArgument` with reason `PRODUCT_KEY_MALFORMED` or
    /// `PARTNER_CODE_MALFORMED`.
    pub fn parse(self, input: &str) -> Result<String> {
        let chars: Vec<u8> = input
            .bytes()
            .filter(|b| !matches!(b, b' ' | b'-' | b'\t'))
            .map(|b| b.to_ascii_uppercase())
            .collect();
        let malformed = |why: &str| {
            Error::invalid_because(self.field(), self.malformed_reason(), why.to_owned())
        };
        if chars.len() != self.char_count() {
            return Err(malformed(&format!(
                "must have {} characters (dashes and spaces are ignored)",
                self.char_count()
            )));
        }
        if !chars.iter().all(|c| value(*c).is_some()) {
            return Err(malformed(
                "contains a character that never appears in codes (0, O, 1, I and L are not used)",
            ));
        }
        let (body, check) = chars.split_at(self.random_len());
        if check_char(body) != check[0] {
            return Err(malformed(
                "has a typing error: please check every character",
            ));
        }
        Ok(group(&chars))
    }
}

fn value(c: u8) -> Option<usize> {
    ALPHABET.iter().position(|a| *a == c)
}

fn check_char(body: &[u8]) -> u8 {
    let sum: usize = body
        .iter()
        .enumerate()
        .map(|(i, c)| (i + 1) * value(*c).unwrap_or(0))
        .sum();
    ALPHABET[sum % 31]
}

fn group(chars: &[u8]) -> String {
    chars
        .chunks(5)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_have_their_shape_and_verify() {
        for kind in [CodeKind::ProductKey, CodeKind::PartnerCode] {
            let code = kind.generate();
            assert_eq!(code.len(), kind.char_count() + kind.char_count() / 5 - 1);
            assert_eq!(kind.parse(&code).unwrap(), code);
            let sloppy = code.to_lowercase().replace('-', " ");
            assert_eq!(kind.parse(&sloppy).unwrap(), code);
        }
    }

    #[test]
    fn every_single_typo_and_every_swap_is_caught() {
        let key = CodeKind::ProductKey.generate().replace('-', "");
        let bytes = key.as_bytes();
        for i in 0..bytes.len() {
            for &other in ALPHABET.iter().filter(|c| **c != bytes[i]) {
                let mut typo = bytes.to_vec();
                typo[i] = other;
                let typo = String::from_utf8(typo).unwrap();
                assert!(
                    CodeKind::ProductKey.parse(&typo).is_err(),
                    "{typo} accepted"
                );
            }
            for j in i + 1..bytes.len() {
                if bytes[i] != bytes[j] {
                    let mut swapped = bytes.to_vec();
                    swapped.swap(i, j);
                    let swapped = String::from_utf8(swapped).unwrap();
                    assert!(
                        CodeKind::ProductKey.parse(&swapped).is_err(),
                        "{swapped} accepted"
                    );
                }
            }
        }
    }

    #[test]
    fn look_alikes_and_wrong_lengths_are_malformed() {
        let key = CodeKind::ProductKey.generate();
        let with_zero = format!("0{}", &key[1..]);
        for bad in [with_zero.as_str(), "ABCDE", "", &key[..key.len() - 1]] {
            let err = CodeKind::ProductKey.parse(bad).unwrap_err();
            assert!(matches!(
                err,
                Error::InvalidArgument {
                    field: "product_key",
                    reason: Reason::ProductKeyMalformed,
                    ..
                }
            ));
        }
    }

    #[test]
    fn the_alphabet_has_no_look_alikes_and_enough_entropy() {
        for c in b"01OIL" {
            assert!(!ALPHABET.contains(c));
        }
        let bits = |n: usize| n as f64 * 31f64.log2();
        assert!(bits(24) >= 110.0);
        assert!(bits(14) >= 64.0);
    }
}
