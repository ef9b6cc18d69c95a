//! Customer accounts: parsed e-mail addresses, passwords and display names.

use super::{
    secret::random_bytes,
    text::{ensure_no_control, single_line},
};
use crate::error::{Error, Result};
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A customer's vendor account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Account id.
    pub id: Uuid,
    /// Lower-cased sign-in e-mail.
    pub email: String,
    /// Name shown in the apps.
    pub display_name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Linked partner identities: (partner id, partner's reference).
    pub linked_identities: Vec<(Uuid, String)>,
}

/// A syntactically valid, lower-cased e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an address: one `@`, a non-empty local part, a dotted domain, no spaces,
    /// at most 254 characters.
    pub fn parse(raw: &str) -> Result<Self> {
        ensure_no_control("email", raw)?;
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(email))
        } else {
            Err(Error::invalid("email", "is not a valid e-mail address"))
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the length rules.
pub struct Password(String);

impl Password {
    /// Fewest characters accepted.
    pub const MIN_LEN: usize = 10;
    /// Most characters accepted.
    pub const MAX_LEN: usize = 256;

    /// Checks the length rules.
    pub fn parse(raw: &str) -> Result<Self> {
        let len = raw.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(Error::invalid(
                "password",
                "must be 10 to 256 characters long",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The argon2id hash (PHC string) of the password, with a fresh salt.
    pub fn hash(&self) -> Result<String> {
        let salt = SaltString::encode_b64(&random_bytes::<16>())
            .map_err(|e| Error::Internal(format!("encoding salt: {e}")))?;
        Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("hashing password: {e}")))
    }
}

/// Whether `password` matches a stored argon2 PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The longest display name (of an account, a device or a partner), in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// A display name: one line of at most 100 characters, trimmed (see [`super::text`]).
/// Errors: `InvalidArgument` on `field`.
pub fn parse_display_name(field: &'static str, raw: &str, required: bool) -> Result<String> {
    single_line(field, raw, MAX_DISPLAY_NAME_CHARS, !required)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "a@b@c.d",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_password_hash_verifies_only_its_password() {
        let hash = Password::parse("correct horse").unwrap().hash().unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse!", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
