//! Redeeming partner codes and product keys: ownership, idempotent re-redemption,
//! typo detection before any look-up, expiry and reissue of partner codes, renewal keys,
//! issuing keys, races between accounts, and the throttle on guessing.
//!
//! The scenarios are in the modules below, one concern each; what they share is here.

mod partner_codes;
mod product_keys;
mod races;
pub mod throttling;

use crate::support::{TestApp, TestPartner, email};
use futures::future::join_all;
use tessera::domain::codes::ALPHABET;
use tessera_client::{pb, with_token};

const DAY: i64 = 86_400;

async fn linked_identities(app: &TestApp, token: &str) -> Vec<pb::LinkedIdentity> {
    app.accounts()
        .get_account(with_token(
            token,
            pb::GetAccountRequest {
                name: "accounts/me".into(),
            },
        ))
        .await
        .expect("an account reads itself")
        .into_inner()
        .linked_identities
}

/// A partner's view of one of its subscriptions.
async fn as_partner(app: &TestApp, partner: &TestPartner, name: &str) -> pb::Subscription {
    app.get_subscription(&partner.api_key, name)
        .await
        .expect("the partner sees its subscription")
}

/// `code` with the character at `index` (dashes not counted) replaced by `with`.
fn replace_char(code: &str, index: usize, with: u8) -> String {
    let mut chars = code.replace('-', "").into_bytes();
    chars[index] = with;
    String::from_utf8(chars).unwrap()
}

/// `code` with one character changed to another character of the alphabet: a typo
/// that only the check character can catch.
fn single_typo(code: &str, index: usize) -> String {
    let chars = code.replace('-', "").into_bytes();
    let position = ALPHABET.iter().position(|c| *c == chars[index]).unwrap();
    replace_char(code, index, ALPHABET[(position + 1) % ALPHABET.len()])
}

/// `code` with its first pair of differing adjacent characters swapped.
fn adjacent_swap(code: &str) -> String {
    let mut chars = code.replace('-', "").into_bytes();
    let i = (0..chars.len() - 1)
        .find(|&i| chars[i] != chars[i + 1])
        .expect("a code with two different adjacent characters");
    chars.swap(i, i + 1);
    String::from_utf8(chars).unwrap()
}

fn seconds(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref().expect("a timestamp").seconds
}

/// `count` signed-up accounts: names and session tokens.
async fn many_accounts(app: &TestApp, count: usize) -> Vec<(String, String)> {
    join_all((0..count).map(|_| async { app.sign_up(&email()).await })).await
}
