//! Customer accounts: parsed e-mail addresses, passwords and display names.

use super::{
    secret::random_bytes,
    text::{ensure_no_control, single_line},
};
use crate::error::{Error, Result};
use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{Output, ParamsString, SaltString},
};
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

    /// The argon2id hash (PHC string) of the password, with a fresh salt, in fresh
    /// memory (see [`Password::hash_in`]).
    pub fn hash(&self) -> Result<String> {
        self.hash_in(&mut HashMemory::default())
    }

    /// The argon2id hash (PHC string) of the password, with a fresh salt, worked out in
    /// `memory`.
    pub fn hash_in(&self, memory: &mut HashMemory) -> Result<String> {
        let salt_bytes = random_bytes::<16>();
        let salt = SaltString::encode_b64(&salt_bytes)
            .map_err(|e| Error::Internal(format!("encoding salt: {e}")))?;
        let params = Params::default();
        let hashed = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
            hasher(params.clone())
                .hash_password_into_with_memory(
                    self.0.as_bytes(),
                    &salt_bytes,
                    out,
                    memory.blocks(&params),
                )
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
        .map_err(|e| Error::Internal(format!("hashing password: {e}")))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params)
                .map_err(|e| Error::Internal(format!("hashing password: {e}")))?,
            salt: Some(salt.as_salt()),
            hash: Some(hashed),
        };
        Ok(phc.to_string())
    }
}

/// The work memory of argon2id (19 MiB at the default parameters), kept and reused:
/// a hash then allocates nothing, and a burst of sign-ins does not leave the memory of
/// each concurrent hash behind in the allocator. Grows once if a stored hash asks for
/// more.
#[derive(Default)]
pub struct HashMemory(Vec<Block>);

impl HashMemory {
    /// Memory for the default parameters, allocated now.
    pub fn for_default_params() -> Self {
        let mut memory = Self::default();
        memory.blocks(&Params::default());
        memory
    }

    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let needed = params.block_count();
        if self.0.len() < needed {
            self.0 = vec![Block::default(); needed];
        }
        &mut self.0[..needed]
    }
}

fn hasher(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether `password` matches a stored argon2 PHC hash (see [`verify_password_in`]).
pub fn verify_password(password: &str, phc: &str) -> bool {
    verify_password_in(password, phc, &mut HashMemory::default())
}

/// Whether `password` matches a stored argon2 PHC hash, worked out in `memory`. The
/// comparison takes the same time however much of the hash matches.
pub fn verify_password_in(password: &str, phc: &str, memory: &mut HashMemory) -> bool {
    let Ok(stored) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(stored.algorithm),
        Params::try_from(&stored),
    ) else {
        return false;
    };
    let version = stored
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let Ok(version) = version else {
        return false;
    };
    let mut salt_buffer = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buffer) else {
        return false;
    };
    let computed = Output::init_with(expected.len(), |out| {
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(password.as_bytes(), salt, out, memory.blocks(&params))
            .map_err(|_| argon2::password_hash::Error::Crypto)
    });
    // `Output`'s equality is constant-time.
    computed.is_ok_and(|computed| computed == expected)
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
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse!", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn hashes_in_reused_memory_agree_with_the_argon2_crate() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let mut memory = HashMemory::for_default_params();
        let ours = Password::parse("correct horse").unwrap();
        let ours = ours.hash_in(&mut memory).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password_in("correct horse", &theirs, &mut memory));
        assert!(!verify_password_in("correct horsf", &theirs, &mut memory));
        // Other parameters, as a hash stored under an older configuration has them.
        let light = Params::new(1024, 1, 1, None).unwrap();
        let older = Argon2::new(Algorithm::Argon2id, Version::V0x13, light)
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password_in("correct horse", &older, &mut memory));
    }
}
