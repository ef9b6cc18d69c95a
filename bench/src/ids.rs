//! Everything the loader writes and the load sends, derived from one seed and an index:
//! ids, e-mails, device ids and bearer tokens. The benchmark keeps no list of what it
//! loaded (a million sessions and three million device tokens would not fit in memory
//! comfortably), it recomputes the token of subscription `i` or seat `(i, j)` when a
//! call needs it.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use tessera::domain::secret::{TokenKind, random_bytes, token_from_bytes};
use uuid::Uuid;

/// One benchmark run's seed and the instant its rows are dated from.
#[derive(Debug, Clone, Copy)]
pub struct Seed {
    bytes: [u8; 16],
    epoch: DateTime<Utc>,
}

/// Spread of the seeded terms' starts: up to this many days ago, so every seeded
/// subscription is in its first (twelve-month) term and none is due for renewal.
const TERM_START_SPREAD_DAYS: u64 = 300;

impl Seed {
    /// A fresh seed, dated now.
    pub fn random() -> Self {
        Self::new(random_bytes::<16>(), Utc::now())
    }

    /// The seed of `bytes`, dated `epoch`.
    pub fn new(bytes: [u8; 16], epoch: DateTime<Utc>) -> Self {
        Self { bytes, epoch }
    }

    /// A short tag of the seed for names that must not collide between runs.
    pub fn tag(&self) -> String {
        self.bytes[..4].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn digest(&self, what: &str, i: u64, j: u64) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.bytes);
        hasher.update(what.as_bytes());
        hasher.update(i.to_le_bytes());
        hasher.update(j.to_le_bytes());
        hasher.finalize().into()
    }

    /// A UUIDv7, as the server makes ids, stamped `at`.
    fn uuid_v7(&self, what: &str, i: u64, j: u64, at: DateTime<Utc>) -> Uuid {
        let digest = self.digest(what, i, j);
        let mut random = [0u8; 10];
        random.copy_from_slice(&digest[..10]);
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }

    /// When subscription `i` (and its account) was created and its term began: up to
    /// [`TERM_START_SPREAD_DAYS`] before the epoch, distinct by the micro-second.
    pub fn created_at(&self, i: u64) -> DateTime<Utc> {
        let days = (i % TERM_START_SPREAD_DAYS) as i64;
        let micros = i64::try_from(i).unwrap_or(i64::MAX / 2);
        self.epoch - Duration::days(days + 1) + Duration::microseconds(micros)
    }

    /// When seat `(i, j)` was taken: `j` hours after its subscription began.
    pub fn activated_at(&self, i: u64, j: u64) -> DateTime<Utc> {
        self.created_at(i) + Duration::hours(j as i64)
    }

    /// When the seeded sessions expire: long after any run.
    pub fn session_expiry(&self) -> DateTime<Utc> {
        self.epoch + Duration::days(30)
    }

    /// Account `i`'s id.
    pub fn account_id(&self, i: u64) -> Uuid {
        self.uuid_v7("account", i, 0, self.created_at(i))
    }

    /// Subscription `i`'s id (of account `i`).
    pub fn subscription_id(&self, i: u64) -> Uuid {
        self.uuid_v7("subscription", i, 0, self.created_at(i))
    }

    /// Seat `j` of subscription `i`.
    pub fn seat_id(&self, i: u64, j: u64) -> Uuid {
        self.uuid_v7("seat", i, j, self.activated_at(i, j))
    }

    /// Account `i`'s e-mail.
    pub fn email(&self, i: u64) -> String {
        format!("bench-{}-{i}@example.com", self.tag())
    }

    /// The device id of seat `(i, j)`.
    pub fn device_id(&self, i: u64, j: u64) -> String {
        format!("bench-{}-{i}-{j}", self.tag())
    }

    /// Account `i`'s session token.
    pub fn session_token(&self, i: u64) -> String {
        token_from_bytes(TokenKind::Session, &self.digest("session", i, 0))
    }

    /// The device token of seat `(i, j)`.
    pub fn device_token(&self, i: u64, j: u64) -> String {
        token_from_bytes(TokenKind::Device, &self.digest("device", i, j))
    }
}

/// A cheap, well-mixed pseudo-random number from `n` (SplitMix64): spreads the calls of
/// a measurement over the seeded rows without a shared generator.
pub fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera::domain::secret::token_hash;

    #[test]
    fn derived_values_are_stable_distinct_and_in_the_servers_formats() {
        let seed = Seed::new([7; 16], Utc::now());
        assert_eq!(seed.session_token(3), seed.session_token(3));
        assert_ne!(seed.session_token(3), seed.session_token(4));
        assert_ne!(seed.device_token(3, 0), seed.device_token(3, 1));
        assert_eq!(
            TokenKind::of(&seed.session_token(1)),
            Some(TokenKind::Session)
        );
        assert_eq!(
            TokenKind::of(&seed.device_token(1, 2)),
            Some(TokenKind::Device)
        );
        assert_eq!(seed.device_token(1, 2).len(), 4 + 43);
        assert_eq!(token_hash(&seed.device_token(1, 2)).len(), 64);
        let id = seed.subscription_id(9);
        assert_eq!(id.get_version_num(), 7);
        assert_ne!(id, seed.account_id(9));
        assert_ne!(seed.seat_id(9, 0), seed.seat_id(9, 1));
        let other = Seed::new([8; 16], Utc::now());
        assert_ne!(other.subscription_id(9), id);
    }

    #[test]
    fn seeded_terms_have_begun_and_run_past_the_epoch() {
        let epoch = Utc::now();
        let seed = Seed::new([1; 16], epoch);
        for i in [0, 1, 299, 300, 999_999] {
            assert!(seed.created_at(i) < epoch);
            assert!(seed.created_at(i) > epoch - Duration::days(302));
        }
        assert_ne!(seed.created_at(0), seed.created_at(300));
    }
}
