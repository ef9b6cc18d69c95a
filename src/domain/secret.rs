//! Bearer tokens: 256-bit random values, shown once and stored only as SHA-256 hashes.
//! A prefix tells which kind of principal a token belongs to.

use super::idempotency::hex;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// The kinds of tokens Tessera issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An account session from `SignIn`.
    Session,
    /// A device token from `ActivateSeat`.
    Device,
    /// A partner API key.
    PartnerKey,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Session => "tss_",
            TokenKind::Device => "tsd_",
            TokenKind::PartnerKey => "tsp_",
        }
    }

    /// Which kind a presented token claims to be, by its prefix.
    pub fn of(token: &str) -> Option<Self> {
        [Self::Session, Self::Device, Self::PartnerKey]
            .into_iter()
            .find(|kind| token.starts_with(kind.prefix()))
    }
}

/// Cryptographically random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// A fresh token of `kind`: its prefix and 256 random bits.
pub fn new_token(kind: TokenKind) -> String {
    token_from_bytes(kind, &random_bytes::<32>())
}

/// The token of `kind` made of `bytes`, in the form [`new_token`] issues. Only fresh
/// random bytes make a secret token; the bulk loader of `tessera-bench` derives them
/// from a seed so that it need not keep millions of tokens in memory.
pub fn token_from_bytes(kind: TokenKind, bytes: &[u8; 32]) -> String {
    format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hashed() {
        let a = new_token(TokenKind::Session);
        let b = new_token(TokenKind::Session);
        assert_ne!(a, b);
        assert_eq!(TokenKind::of(&a), Some(TokenKind::Session));
        assert_eq!(a.len(), 4 + 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
