//! What a commit changed, as far as cached reads care, and how replicas tell each other.
//!
//! A unit of work (or a single write outside one) collects [`Change`]s as it saves. After
//! it commits, this replica drops the cached reads they name; on PostgreSQL the same
//! changes travel to the other replicas as `NOTIFY` payloads sent inside the transaction,
//! which PostgreSQL delivers only if and when it commits.

use std::collections::HashSet;
use uuid::Uuid;

/// One changed thing whose cached reads must go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// A subscription's row.
    Subscription(Uuid),
    /// Which of an account's subscriptions could take another device.
    Account(Uuid),
    /// A seat's row (its device token's principal follows the seat).
    Seat(Uuid),
    /// The device tokens of this seat now belong to another seat.
    TokensMoved(Uuid),
    /// A session, by its token hash, ended.
    Session(String),
    /// A partner or one of its keys.
    Partner(Uuid),
}

/// The largest `NOTIFY` payload we send; PostgreSQL's limit is 8000 bytes.
pub const MAX_NOTICE_BYTES: usize = 7_900;

impl Change {
    /// The change as one word of a notice: a tag letter and the key.
    fn encode(&self) -> String {
        match self {
            Change::Subscription(id) => format!("s{id}"),
            Change::Account(id) => format!("a{id}"),
            Change::Seat(id) => format!("t{id}"),
            Change::TokensMoved(id) => format!("m{id}"),
            Change::Session(hash) => format!("x{hash}"),
            Change::Partner(id) => format!("p{id}"),
        }
    }

    /// A word of a notice; `None` for one this version does not know.
    fn decode(word: &str) -> Option<Self> {
        let (tag, key) = word.split_at_checked(1)?;
        let id = || Uuid::parse_str(key).ok();
        Some(match tag {
            "s" => Change::Subscription(id()?),
            "a" => Change::Account(id()?),
            "t" => Change::Seat(id()?),
            "m" => Change::TokensMoved(id()?),
            "x" if !key.is_empty() => Change::Session(key.to_owned()),
            "p" => Change::Partner(id()?),
            _ => return None,
        })
    }
}

/// The changes a unit of work collected, each once.
#[derive(Debug, Default, Clone)]
pub struct ChangeSet(HashSet<Change>);

impl ChangeSet {
    /// Adds `change`.
    pub fn add(&mut self, change: Change) {
        self.0.insert(change);
    }

    /// Adds the subscription and the account it belongs to, if any.
    pub fn subscription(&mut self, id: Uuid, account: Option<Uuid>) {
        self.add(Change::Subscription(id));
        if let Some(account) = account {
            self.add(Change::Account(account));
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The changes, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Change> {
        self.0.iter()
    }

    /// The changes as notice payloads, each at most [`MAX_NOTICE_BYTES`] long.
    pub fn notices(&self) -> Vec<String> {
        let mut notices = Vec::new();
        let mut current = String::new();
        for word in self.0.iter().map(Change::encode) {
            if !current.is_empty() && current.len() + 1 + word.len() > MAX_NOTICE_BYTES {
                notices.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&word);
        }
        if !current.is_empty() {
            notices.push(current);
        }
        notices
    }
}

impl FromIterator<Change> for ChangeSet {
    fn from_iter<I: IntoIterator<Item = Change>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// What the listening connection reports to the read model.
#[derive(Debug, Clone)]
pub enum Notice {
    /// Another replica committed these changes.
    Changed(Vec<Change>),
    /// A notice this version cannot read: a newer replica's. Everything cached may be
    /// stale.
    Unreadable,
    /// The listening connection is down: notices sent meanwhile are lost.
    Lost,
    /// The listening connection is up (again): notices arrive from now on.
    Listening,
}

impl Notice {
    /// Reads a notice payload.
    pub fn parse(payload: &str) -> Self {
        payload
            .split(' ')
            .filter(|word| !word.is_empty())
            .map(Change::decode)
            .collect::<Option<Vec<_>>>()
            .map_or(Notice::Unreadable, Notice::Changed)
    }
}

/// Where the listening connection reports to.
pub type NoticeSink = std::sync::Arc<dyn Fn(Notice) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_the_trip_through_a_notice() {
        let id = Uuid::now_v7();
        let sent: ChangeSet = [
            Change::Subscription(id),
            Change::Account(id),
            Change::Seat(id),
            Change::TokensMoved(id),
            Change::Session("ab12".to_owned()),
            Change::Partner(id),
        ]
        .into_iter()
        .collect();
        let notices = sent.notices();
        assert_eq!(notices.len(), 1);
        let Notice::Changed(received) = Notice::parse(&notices[0]) else {
            panic!("the notice was not read back");
        };
        assert_eq!(received.into_iter().collect::<HashSet<_>>(), sent.0);
    }

    #[test]
    fn many_changes_are_split_into_notices_postgres_accepts() {
        let sent: ChangeSet = (0..1_000)
            .map(|_| Change::Subscription(Uuid::now_v7()))
            .collect();
        let notices = sent.notices();
        assert!(notices.len() > 1);
        assert!(notices.iter().all(|n| n.len() <= MAX_NOTICE_BYTES));
        let received: usize = notices
            .iter()
            .map(|n| match Notice::parse(n) {
                Notice::Changed(changes) => changes.len(),
                other => panic!("unexpected {other:?}"),
            })
            .sum();
        assert_eq!(received, 1_000);
    }

    #[test]
    fn a_notice_from_a_newer_version_is_unreadable_not_ignored() {
        assert!(matches!(
            Notice::parse("s0190a3b2-0000-7000-8000-000000000000 q123"),
            Notice::Unreadable
        ));
        assert!(matches!(Notice::parse("sNOT-A-UUID"), Notice::Unreadable));
    }
}
