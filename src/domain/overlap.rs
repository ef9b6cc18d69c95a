//! Double coverage: an account protected by two or more subscriptions from different
//! channels (say a carrier bundle and an App Store subscription) is told so, with the one
//! to keep, so that the customer manages protection in one place.

use super::{
    lifecycle::renews_by_itself,
    subscription::{Status, Subscription},
};
use std::collections::HashSet;
use uuid::Uuid;

/// Overlapping subscriptions and the one to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The subscriptions that cover the account now.
    pub covering: Vec<Uuid>,
    /// The one to keep.
    pub keep: Uuid,
}

fn covers(subscription: &Subscription) -> bool {
    matches!(
        subscription.status,
        Status::Active | Status::Trial | Status::Grace
    )
}

/// The overlap among an account's subscriptions, if two or more covering ones come from
/// different channels. Keep the one with the most seats; then the one that renews by
/// itself; then the one that runs longest.
pub fn find(subscriptions: &[Subscription]) -> Option<Overlap> {
    let covering: Vec<&Subscription> = subscriptions.iter().filter(|s| covers(s)).collect();
    let channels: HashSet<_> = covering.iter().map(|s| s.channel).collect();
    if covering.len() < 2 || channels.len() < 2 {
        return None;
    }
    let keep = covering
        .iter()
        .max_by_key(|s| (s.seat_limit, renews_by_itself(s), s.term_end, s.id))?
        .id;
    Some(Overlap {
        covering: covering.iter().map(|s| s.id).collect(),
        keep,
    })
}
