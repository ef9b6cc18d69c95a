//! Resource names (`accounts/{id}`, `subscriptions/{id}`, `subscriptions/{id}/seats/{id}`)
//! parsed into ids, with the field named on failure.

use crate::{
    domain::principal::Principal,
    error::{Error, Result},
};
use uuid::Uuid;

fn id(field: &'static str, raw: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(raw)
        .map_err(|_| Error::invalid(field, format!("must be a resource name like {what}")))
}

/// `accounts/{id}`, or `accounts/me` for an account session.
pub fn account(field: &'static str, name: &str, principal: Principal) -> Result<Uuid> {
    const FORM: &str = "accounts/{account_id}";
    match name.strip_prefix("accounts/") {
        Some("me") => match principal {
            Principal::Account(own) => Ok(own),
            _ => Err(Error::invalid(
                field,
                "accounts/me needs an account session",
            )),
        },
        Some(raw) => id(field, raw, FORM),
        None if name.is_empty() => Err(Error::invalid(field, "is required")),
        None => Err(Error::invalid(
            field,
            format!("must be a resource name like {FORM}"),
        )),
    }
}

/// `subscriptions/{id}`.
pub fn subscription(field: &'static str, name: &str) -> Result<Uuid> {
    const FORM: &str = "subscriptions/{subscription_id}";
    match name.strip_prefix("subscriptions/") {
        Some(raw) => id(field, raw, FORM),
        None if name.is_empty() => Err(Error::invalid(field, "is required")),
        None => Err(Error::invalid(
            field,
            format!("must be a resource name like {FORM}"),
        )),
    }
}

/// `subscriptions/{id}/seats/{id}`.
pub fn seat(field: &'static str, name: &str) -> Result<(Uuid, Uuid)> {
    const FORM: &str = "subscriptions/{subscription_id}/seats/{seat_id}";
    let malformed = || Error::invalid(field, format!("must be a resource name like {FORM}"));
    if name.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    let rest = name.strip_prefix("subscriptions/").ok_or_else(malformed)?;
    let (subscription, seat) = rest.split_once("/seats/").ok_or_else(malformed)?;
    Ok((id(field, subscription, FORM)?, id(field, seat, FORM)?))
}

/// `partners/{id}`, or `partners/me` for a partner.
pub fn partner(field: &'static str, name: &str, principal: Principal) -> Result<Uuid> {
    const FORM: &str = "partners/{partner_id}";
    match (name.strip_prefix("partners/"), principal) {
        (Some("me"), Principal::Partner(own)) => Ok(own),
        (Some(raw), _) => id(field, raw, FORM),
        (None, _) if name.is_empty() => Err(Error::invalid(field, "is required")),
        (None, _) => Err(Error::invalid(
            field,
            format!("must be a resource name like {FORM}"),
        )),
    }
}

/// `partners/{id}/keys/{id}`.
pub fn partner_key(field: &'static str, name: &str) -> Result<(Uuid, Uuid)> {
    const FORM: &str = "partners/{partner_id}/keys/{key_id}";
    let malformed = || Error::invalid(field, format!("must be a resource name like {FORM}"));
    let rest = name.strip_prefix("partners/").ok_or_else(malformed)?;
    let (partner, key) = rest.split_once("/keys/").ok_or_else(malformed)?;
    Ok((id(field, partner, FORM)?, id(field, key, FORM)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::names::{seat as seat_name, subscription as subscription_name};

    #[test]
    fn names_round_trip_and_garbage_names_the_field() {
        let (s, t) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(seat("name", &seat_name(s, t)).unwrap(), (s, t));
        assert_eq!(subscription("name", &subscription_name(s)).unwrap(), s);
        let err = subscription("parent", "subscriptions/xyz").unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidArgument {
                field: "parent",
                ..
            }
        ));
        assert!(seat("name", "subscriptions/x/seats").is_err());
        assert_eq!(
            account("name", "accounts/me", Principal::Account(s)).unwrap(),
            s
        );
        assert!(account("name", "accounts/me", Principal::Admin).is_err());
    }
}
