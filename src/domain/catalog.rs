//! The catalog: the plans Tessera sells and the store products that grant them, read
//! from a TOML file (a default ships in the binary, `catalog/default.toml`) and checked
//! whole before the server starts. Every mistake is reported with the line and the
//! field that has it. Store products map to plans only through the catalog: a product
//! id is never parsed for a plan code.

use super::plan::{Plan, StoreProduct, Term};
use super::purchase::{StoreKind, VerifiedPurchase};
use crate::error::{Error, Reason, Result};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use toml::Spanned;

/// The catalog that ships with the server.
pub const DEFAULT_CATALOG: &str = include_str!("../../catalog/default.toml");

/// Most devices one plan may protect (the contract's seat limit is an int32; no plan
/// comes near this).
pub const MAX_SEATS: i64 = 10_000;
/// Longest term, in months (ten years).
pub const MAX_TERM_MONTHS: i64 = 120;
/// Longest term, in days (ten years).
pub const MAX_TERM_DAYS: i64 = 3660;

/// The plans and the store products that grant them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    plans: Vec<Plan>,
    by_product: HashMap<StoreProduct, usize>,
}

/// A mistake in a catalog file: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {}{message}", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct CatalogError {
    /// The file (or `default catalog`).
    pub source_name: String,
    /// 1-based line of the mistake.
    pub line: usize,
    /// The entry and field, e.g. `app_store_products[2].plan`, when one is at fault.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    plans: Vec<Spanned<PlanEntry>>,
    #[serde(default)]
    app_store_products: Vec<Spanned<AppStoreEntry>>,
    #[serde(default)]
    play_products: Vec<Spanned<PlayEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanEntry {
    code: Spanned<String>,
    name: Spanned<String>,
    seats: Spanned<i64>,
    term_months: Option<Spanned<i64>>,
    term_days: Option<Spanned<i64>>,
    #[serde(default)]
    trial: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppStoreEntry {
    product_id: Spanned<String>,
    plan: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlayEntry {
    product_id: Spanned<String>,
    base_plan_id: Spanned<String>,
    plan: Spanned<String>,
}

/// Collects the mistakes of one file, each at its line.
struct Checker<'a> {
    source_name: &'a str,
    text: &'a str,
    errors: Vec<CatalogError>,
}

impl Checker<'_> {
    fn line_of(&self, offset: usize) -> usize {
        1 + self.text.as_bytes()[..offset.min(self.text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }

    fn fail<T>(&mut self, at: &Spanned<T>, field: String, message: impl Into<String>) {
        self.errors.push(CatalogError {
            source_name: self.source_name.to_owned(),
            line: self.line_of(at.span().start),
            field: Some(field),
            message: message.into(),
        });
    }
}

/// A plan code: 1 to 64 lower-case letters, digits and `-`, starting with a letter or
/// digit (it is also a resource name segment, `plans/{code}`).
fn plan_code_problem(code: &str) -> Option<&'static str> {
    if code.is_empty() || code.len() > 64 {
        return Some("must be 1 to 64 characters");
    }
    if !code
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || code.starts_with('-')
    {
        return Some("must be lower-case letters, digits and \"-\", not starting with \"-\"");
    }
    None
}

/// An App Store product id: letters, digits, `_` and `.` (what App Store Connect takes),
/// at most 100 characters.
fn app_store_product_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() || id.len() > 100 {
        return Some("must be 1 to 100 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Some("may hold only letters, digits, \"_\" and \".\", as the App Store allows");
    }
    None
}

/// A Play product id, as Google's `Subscription.productId` documents it: lower-case
/// letters, digits, `_` and `.`, starting with a letter or digit, 1 to 40 characters.
fn play_product_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() || id.len() > 40 {
        return Some("must be 1 to 40 characters, as Google Play allows");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    {
        return Some(
            "may hold only lower-case letters, digits, \"_\" and \".\" ([a-z0-9_.]), as Google \
             Play allows",
        );
    }
    if !id.as_bytes()[0].is_ascii_alphanumeric() {
        return Some("must start with a lower-case letter or a digit, as Google Play requires");
    }
    None
}

/// A Play base plan id: lower-case letters, digits and `-`, starting with a letter or
/// digit, 1 to 63 characters.
fn base_plan_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() || id.len() > 63 {
        return Some("must be 1 to 63 characters, as Google Play allows");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || !id.as_bytes()[0].is_ascii_alphanumeric()
    {
        return Some(
            "may hold only lower-case letters, digits and \"-\", starting with a letter or \
             digit, as Google Play allows",
        );
    }
    None
}

impl Catalog {
    /// The catalog that ships with the server ([`DEFAULT_CATALOG`]).
    pub fn embedded() -> &'static Catalog {
        static EMBEDDED: LazyLock<Catalog> = LazyLock::new(|| {
            Catalog::parse("default catalog", DEFAULT_CATALOG)
                .unwrap_or_else(|errors| panic!("the default catalog is invalid: {errors:?}"))
        });
        &EMBEDDED
    }

    /// Reads and checks a catalog file's text. `source_name` names it in errors.
    /// Errors: every mistake found, each with its line (and field).
    pub fn parse(source_name: &str, text: &str) -> std::result::Result<Catalog, Vec<CatalogError>> {
        let mut checker = Checker {
            source_name,
            text,
            errors: Vec::new(),
        };
        let file: CatalogFile = match toml::from_str(text) {
            Ok(file) => file,
            Err(error) => {
                let line = error.span().map_or(1, |span| checker.line_of(span.start));
                return Err(vec![CatalogError {
                    source_name: source_name.to_owned(),
                    line,
                    field: None,
                    message: error.message().trim().to_owned(),
                }]);
            }
        };

        let mut plans: Vec<Plan> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, entry) in file.plans.iter().enumerate() {
            let entry = entry.get_ref();
            let at = |field: &str| format!("plans[{}].{field}", i + 1);
            let code = entry.code.get_ref().clone();
            if let Some(problem) = plan_code_problem(&code) {
                checker.fail(&entry.code, at("code"), problem);
            } else if index.contains_key(&code) {
                checker.fail(
                    &entry.code,
                    at("code"),
                    format!("plan {code:?} is listed twice"),
                );
            }
            let name = entry.name.get_ref().trim();
            if name.is_empty() || name.len() > 200 {
                checker.fail(&entry.name, at("name"), "must be 1 to 200 characters");
            }
            let seats = *entry.seats.get_ref();
            if !(1..=MAX_SEATS).contains(&seats) {
                checker.fail(
                    &entry.seats,
                    at("seats"),
                    format!("must be 1 to {MAX_SEATS} devices, not {seats}"),
                );
            }
            let term = match (&entry.term_months, &entry.term_days) {
                (Some(months), None) => {
                    let n = *months.get_ref();
                    if (1..=MAX_TERM_MONTHS).contains(&n) {
                        Some(Term::Months(n as u32))
                    } else {
                        checker.fail(
                            months,
                            at("term_months"),
                            format!("must be 1 to {MAX_TERM_MONTHS}, not {n}"),
                        );
                        None
                    }
                }
                (None, Some(days)) => {
                    let n = *days.get_ref();
                    if (1..=MAX_TERM_DAYS).contains(&n) {
                        Some(Term::Days(n as u32))
                    } else {
                        checker.fail(
                            days,
                            at("term_days"),
                            format!("must be 1 to {MAX_TERM_DAYS}, not {n}"),
                        );
                        None
                    }
                }
                (Some(_), Some(days)) => {
                    checker.fail(
                        days,
                        at("term_days"),
                        "a plan has term_months or term_days, not both",
                    );
                    None
                }
                (None, None) => {
                    checker.fail(
                        &entry.code,
                        at("term_months"),
                        "a plan needs its term: term_months or term_days",
                    );
                    None
                }
            };
            if let Some(term) = term
                && !index.contains_key(&code)
            {
                index.insert(code.clone(), plans.len());
                plans.push(Plan {
                    code,
                    display_name: name.to_owned(),
                    seat_limit: seats,
                    term,
                    trial: entry.trial,
                    store_products: Vec::new(),
                });
            }
        }
        if file.plans.is_empty() {
            checker.errors.push(CatalogError {
                source_name: source_name.to_owned(),
                line: 1,
                field: Some("plans".to_owned()),
                message: "the catalog lists no plan".to_owned(),
            });
        }

        let mut by_product: HashMap<StoreProduct, usize> = HashMap::new();
        let mut app_store_ids = HashSet::new();
        for (i, entry) in file.app_store_products.iter().enumerate() {
            let entry = entry.get_ref();
            let at = |field: &str| format!("app_store_products[{}].{field}", i + 1);
            let product_id = entry.product_id.get_ref();
            if let Some(problem) = app_store_product_problem(product_id) {
                checker.fail(&entry.product_id, at("product_id"), problem);
            } else if !app_store_ids.insert(product_id.clone()) {
                checker.fail(
                    &entry.product_id,
                    at("product_id"),
                    format!("App Store product {product_id:?} is listed twice"),
                );
                continue;
            }
            let product = StoreProduct::AppStore {
                product_id: product_id.clone(),
            };
            if let Some((product, plan)) =
                file_product(&mut checker, &index, &entry.plan, at("plan"), product)
            {
                by_product.insert(product, plan);
            }
        }
        for (i, entry) in file.play_products.iter().enumerate() {
            let entry = entry.get_ref();
            let at = |field: &str| format!("play_products[{}].{field}", i + 1);
            let product_id = entry.product_id.get_ref();
            let base_plan_id = entry.base_plan_id.get_ref();
            if let Some(problem) = play_product_problem(product_id) {
                checker.fail(&entry.product_id, at("product_id"), problem);
            }
            if let Some(problem) = base_plan_problem(base_plan_id) {
                checker.fail(&entry.base_plan_id, at("base_plan_id"), problem);
            }
            let product = StoreProduct::Play {
                product_id: product_id.clone(),
                base_plan_id: base_plan_id.clone(),
            };
            if by_product.contains_key(&product) {
                checker.fail(
                    &entry.product_id,
                    at("product_id"),
                    format!("{product} is listed twice"),
                );
                continue;
            }
            if let Some((product, plan)) =
                file_product(&mut checker, &index, &entry.plan, at("plan"), product)
            {
                by_product.insert(product, plan);
            }
        }

        if !checker.errors.is_empty() {
            checker.errors.sort_by_key(|e| e.line);
            return Err(checker.errors);
        }
        let mut listed: Vec<(&StoreProduct, &usize)> = by_product.iter().collect();
        listed.sort_by_key(|(product, _)| product.to_string());
        for (product, plan) in listed {
            plans[*plan].store_products.push(product.clone());
        }
        Ok(Catalog { plans, by_product })
    }

    /// Every plan, in the file's order.
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    /// The plan with a code; accepts `plans/{code}` as well as the bare code.
    pub fn plan(&self, name_or_code: &str) -> Option<&Plan> {
        let code = name_or_code.strip_prefix("plans/").unwrap_or(name_or_code);
        self.plans.iter().find(|plan| plan.code == code)
    }

    /// The plan a request names in `field` (`plans/{code}` or the bare code).
    /// Errors: `InvalidArgument` on `field` when it is empty or not in the catalog.
    pub fn parse_plan(&self, field: &'static str, raw: &str) -> Result<&Plan> {
        if raw.is_empty() {
            return Err(Error::invalid(field, "is required"));
        }
        self.plan(raw)
            .ok_or_else(|| Error::invalid(field, "is not a plan of the catalog"))
    }

    /// The plan a subscription is on, for its term.
    /// Errors: `Internal` when the catalog no longer lists it.
    pub fn plan_of(&self, plan_code: &str) -> Result<&Plan> {
        self.plan(plan_code).ok_or_else(|| {
            Error::Internal(format!(
                "plan {plan_code:?} is not in the catalog any more; subscriptions are on it"
            ))
        })
    }

    /// The plan a store product grants.
    /// Errors: `FailedPrecondition` (STORE_PRODUCT_UNKNOWN) when the catalog maps the
    /// product to no plan.
    pub fn plan_for(&self, product: &StoreProduct) -> Result<&Plan> {
        self.by_product
            .get(product)
            .map(|i| &self.plans[*i])
            .ok_or_else(|| {
                Error::precondition(
                    Reason::StoreProductUnknown,
                    format!("the {product} grants no plan of the catalog"),
                )
            })
    }

    /// The plan a verified store purchase grants (see [`Self::plan_for`]).
    pub fn plan_for_purchase(&self, purchase: &VerifiedPurchase) -> Result<&Plan> {
        self.plan_for(&purchase.product())
    }
}

/// Maps `product` to the plan `plan` names, if the catalog has it.
fn file_product(
    checker: &mut Checker<'_>,
    index: &HashMap<String, usize>,
    plan: &Spanned<String>,
    field: String,
    product: StoreProduct,
) -> Option<(StoreProduct, usize)> {
    match index.get(plan.get_ref()) {
        Some(i) => Some((product, *i)),
        None => {
            let code = plan.get_ref();
            checker.fail(
                plan,
                field,
                format!("names plan {code:?}, which the catalog does not list"),
            );
            None
        }
    }
}

impl VerifiedPurchase {
    /// The store product, as the catalog keys it.
    pub fn product(&self) -> StoreProduct {
        match self.store {
            StoreKind::AppStore => StoreProduct::AppStore {
                product_id: self.product_id.clone(),
            },
            StoreKind::PlayStore => StoreProduct::Play {
                product_id: self.product_id.clone(),
                base_plan_id: self.base_plan_id.clone().unwrap_or_default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        Catalog::parse("test.toml", text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const PLAN: &str =
        "[[plans]]\ncode = \"basic-1\"\nname = \"Basic\"\nseats = 1\nterm_months = 12\n";

    #[test]
    fn the_default_catalog_keeps_the_plan_codes_carriers_use() {
        let codes: Vec<&str> = Catalog::embedded()
            .plans()
            .iter()
            .map(|p| p.code.as_str())
            .collect();
        assert_eq!(
            codes,
            [
                "trial-5",
                "standard-1",
                "deluxe-3",
                "deluxe-5",
                "premium-10",
                "deluxe-3-monthly"
            ]
        );
        let catalog = Catalog::embedded();
        assert_eq!(catalog.plan("plans/premium-10").unwrap().seat_limit, 10);
        assert_eq!(catalog.plan("deluxe-3").unwrap().seat_limit, 3);
        assert!(catalog.plan("plans/nope").is_none());
    }

    #[test]
    fn store_products_map_to_plans_only_through_the_catalog() {
        let catalog = Catalog::embedded();
        let premium = StoreProduct::Play {
            product_id: "com.example.suite.premium_10".into(),
            base_plan_id: "yearly".into(),
        };
        assert_eq!(catalog.plan_for(&premium).unwrap().code, "premium-10");
        let by_name = StoreProduct::AppStore {
            product_id: "com.example.suite.premium-10".into(),
        };
        assert_eq!(
            catalog.plan_for(&by_name).unwrap_err().reason(),
            Reason::StoreProductUnknown
        );
        let monthly = StoreProduct::Play {
            product_id: "com.example.suite.deluxe_3".into(),
            base_plan_id: "monthly".into(),
        };
        assert_eq!(catalog.plan_for(&monthly).unwrap().code, "deluxe-3-monthly");
    }

    #[test]
    fn a_product_naming_an_unknown_plan_is_refused_at_its_line() {
        let text = format!(
            "{PLAN}\n[[app_store_products]]\nproduct_id = \"com.example.basic\"\nplan = \"basic-2\"\n"
        );
        assert_eq!(
            errors(&text),
            [
                "test.toml:9: app_store_products[1].plan: names plan \"basic-2\", which the \
                 catalog does not list"
            ]
        );
    }

    #[test]
    fn duplicate_product_ids_are_refused() {
        let text = format!(
            "{PLAN}\n[[app_store_products]]\nproduct_id = \"a.b\"\nplan = \"basic-1\"\n\
             [[app_store_products]]\nproduct_id = \"a.b\"\nplan = \"basic-1\"\n\
             [[play_products]]\nproduct_id = \"a.b\"\nbase_plan_id = \"p1\"\nplan = \"basic-1\"\n\
             [[play_products]]\nproduct_id = \"a.b\"\nbase_plan_id = \"p1\"\nplan = \"basic-1\"\n"
        );
        assert_eq!(
            errors(&text),
            [
                "test.toml:11: app_store_products[2].product_id: App Store product \"a.b\" is \
                 listed twice",
                "test.toml:18: play_products[2].product_id: Google Play product \"a.b\" (base \
                 plan \"p1\") is listed twice"
            ]
        );
    }

    #[test]
    fn play_ids_outside_what_google_allows_are_refused() {
        let text = format!(
            "{PLAN}\n[[play_products]]\nproduct_id = \"com.example.basic-1\"\nbase_plan_id = \
             \"Yearly\"\nplan = \"basic-1\"\n"
        );
        let found = errors(&text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("test.toml:8: play_products[1].product_id: may hold only"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("test.toml:9: play_products[1].base_plan_id:"),
            "{found:?}"
        );
    }

    #[test]
    fn plan_mistakes_name_their_line_and_field() {
        let text = "[[plans]]\ncode = \"a\"\nname = \"A\"\nseats = 0\nterm_months = 12\n\n\
                    [[plans]]\ncode = \"a\"\nname = \"A again\"\nseats = 2\nterm_days = 30\n\n\
                    [[plans]]\ncode = \"Big_Plan\"\nname = \"\"\nseats = 2\n";
        assert_eq!(
            errors(text),
            [
                "test.toml:4: plans[1].seats: must be 1 to 10000 devices, not 0",
                "test.toml:8: plans[2].code: plan \"a\" is listed twice",
                "test.toml:14: plans[3].code: must be lower-case letters, digits and \"-\", not \
                 starting with \"-\"",
                "test.toml:14: plans[3].term_months: a plan needs its term: term_months or \
                 term_days",
                "test.toml:15: plans[3].name: must be 1 to 200 characters",
            ]
        );
    }

    #[test]
    fn syntax_errors_and_unknown_fields_name_their_line() {
        let unknown = errors(&format!("{PLAN}seat_limit = 3\n"));
        assert_eq!(unknown.len(), 1);
        assert!(unknown[0].starts_with("test.toml:6: "), "{unknown:?}");
        assert!(unknown[0].contains("seat_limit"), "{unknown:?}");
        let broken = errors("[[plans]]\ncode = \"a\nname = 1\n");
        assert!(broken[0].starts_with("test.toml:2: "), "{broken:?}");
        assert_eq!(
            errors("")[0],
            "test.toml:1: plans: the catalog lists no plan"
        );
    }
}
