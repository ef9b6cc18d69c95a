//! The reader's [`Scope`] as a predicate on subscriptions, built here once and used by
//! every scoped read: what a caller may not see does not come out of the database.

use crate::domain::principal::Scope;
use sqlx::{QueryBuilder, Sqlite};

/// What a scope lets the reader see of the table aliased `s` (subscriptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Visible {
    /// Some rows: the predicate has been added.
    Some,
    /// Nothing at all: the caller answers `NotFound` or empty without running the query.
    Nothing,
}

/// Adds the predicate of `scope` to `query`, whose `WHERE` clause is open and whose
/// subscriptions table is aliased `s`: nothing for [`Scope::All`], `AND s.account_id = ?`
/// for an account, `AND s.partner_id = ?` for a partner, `AND s.id = ?` for one
/// subscription.
#[must_use = "a scope that sees nothing must not run the query"]
pub(super) fn restrict(query: &mut QueryBuilder<Sqlite>, scope: Scope) -> Visible {
    let (column, id) = match scope {
        Scope::All => return Visible::Some,
        Scope::Nothing => return Visible::Nothing,
        Scope::Account(id) => ("s.account_id", id),
        Scope::Partner(id) => ("s.partner_id", id),
        Scope::Subscription(id) => ("s.id", id),
    };
    query
        .push(format_args!(" AND {column} = "))
        .push_bind(id.to_string());
    Visible::Some
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Execute;
    use uuid::Uuid;

    fn restricted(scope: Scope) -> (Visible, String, usize) {
        let mut query =
            QueryBuilder::<Sqlite>::new("SELECT s.id FROM subscriptions s WHERE s.id = ");
        query.push_bind("x");
        let visible = restrict(&mut query, scope);
        let mut built = query.build();
        let binds = built
            .take_arguments()
            .ok()
            .flatten()
            .map_or(0, |args| sqlx::Arguments::len(&args));
        (visible, built.sql().as_str().to_owned(), binds)
    }

    #[test]
    fn each_scope_adds_its_own_predicate_and_binds_its_id() {
        let id = Uuid::now_v7();
        let base = "SELECT s.id FROM subscriptions s WHERE s.id = ?";
        assert_eq!(restricted(Scope::All), (Visible::Some, base.to_owned(), 1));
        assert_eq!(
            restricted(Scope::Account(id)),
            (Visible::Some, format!("{base} AND s.account_id = ?"), 2)
        );
        assert_eq!(
            restricted(Scope::Partner(id)),
            (Visible::Some, format!("{base} AND s.partner_id = ?"), 2)
        );
        assert_eq!(
            restricted(Scope::Subscription(id)),
            (Visible::Some, format!("{base} AND s.id = ?"), 2)
        );
        assert_eq!(restricted(Scope::Nothing).0, Visible::Nothing);
    }
}
