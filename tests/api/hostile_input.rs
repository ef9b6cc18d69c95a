//! Hostile input: every method of the contract, called by the principal it serves, with
//! random values in every field: any text (NUL, control characters, long runs,
//! look-alike resource names, the names of real resources), extreme numbers, unknown
//! enum values and out-of-range timestamps. Whatever comes in, the server answers with
//! a result or with a refusal that carries a reason (and, for invalid input, the field
//! it blames); it never fails internally, and it keeps serving.
//!
//! The values come from proptest strategies drawn by a deterministic runner, so every
//! run sends the same calls and a failure names the call that broke.

use crate::support::{ADMIN_TOKEN, Db, TestApp, email, on_both_backends, spawn_app};
use proptest::{
    prelude::*,
    sample::select,
    strategy::{BoxedStrategy, ValueTree},
    test_runner::TestRunner,
};
use prost_types::{FieldMask, Timestamp};
use std::fmt::Debug;
use tessera_client::{
    pb,
    tonic::{Code, Response, Status},
    tonic_types::StatusExt,
    with_token,
};

on_both_backends!(no_input_makes_the_server_fail_or_answer_without_a_reason);

/// Random requests per method.
const SAMPLES: usize = 24;

/// Codes that would mean the server failed rather than refused.
const FAILURES: &[Code] = &[
    Code::Internal,
    Code::Unknown,
    Code::DataLoss,
    Code::Unimplemented,
    Code::Unavailable,
];

/// Text no field expects: control characters, NUL, long runs, whitespace, names of
/// things that do not exist.
fn hostile() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "\\PC{0,24}",
        1 => "[a-z]{0,6}\\x00[a-z]{0,6}",
        1 => "[\\x01-\\x1f\\x7f]{1,8}",
        1 => "[ \\t\\r\\n]{0,4}",
        2 => "(accounts|subscriptions|partners|plans|seats|keys)/[a-zA-Z0-9/._%-]{0,48}",
        1 => "subscriptions/[0-9a-f-]{36}/seats/[0-9a-f-]{0,40}",
        1 => "[A-Z0-9-]{15,40}",
        1 => "\\PC{2000,3000}",
        1 => Just(String::new()),
    ]
    .boxed()
}

/// A string field: mostly one of the values it expects, so that calls get past the
/// first check, sometimes something hostile.
fn field(valid: Vec<String>) -> BoxedStrategy<String> {
    prop_oneof![3 => select(valid), 1 => hostile()].boxed()
}

/// Strategies for each kind of string field.
struct Fields {
    account: BoxedStrategy<String>,
    subscription: BoxedStrategy<String>,
    carrier_subscription: BoxedStrategy<String>,
    seat: BoxedStrategy<String>,
    partner: BoxedStrategy<String>,
    partner_key: BoxedStrategy<String>,
    plan: BoxedStrategy<String>,
    reference: BoxedStrategy<String>,
    partner_code: BoxedStrategy<String>,
    product_key: BoxedStrategy<String>,
    request_id: BoxedStrategy<String>,
    label: BoxedStrategy<String>,
    email: BoxedStrategy<String>,
    password: BoxedStrategy<String>,
    page_token: BoxedStrategy<String>,
    /// Enum values, page sizes and counts: mostly small, sometimes anything.
    number: BoxedStrategy<i32>,
    sequence: BoxedStrategy<i64>,
    flag: BoxedStrategy<bool>,
    time: BoxedStrategy<Option<Timestamp>>,
    mask: BoxedStrategy<Option<FieldMask>>,
}

impl Fields {
    fn for_world(world: &World) -> Self {
        let one = |value: &str| vec![value.to_owned()];
        Self {
            account: field(vec![world.account.clone(), "accounts/me".to_owned()]),
            subscription: field(one(&world.subscription)),
            carrier_subscription: field(one(&world.carrier_subscription)),
            seat: field(one(&world.seat)),
            partner: field(one(&world.partner)),
            partner_key: field(one(&world.partner_key_name)),
            plan: field(vec![
                "plans/deluxe-3".to_owned(),
                "plans/premium-10".to_owned(),
                "plans/standard-1".to_owned(),
            ]),
            reference: field(vec![
                "contract-fuzz".to_owned(),
                "contract-other".to_owned(),
            ]),
            partner_code: field(one(&world.partner_code)),
            product_key: field(world.product_keys.clone()),
            request_id: prop_oneof![3 => "[a-z0-9-]{8,36}", 1 => hostile()].boxed(),
            label: prop_oneof![3 => "[A-Za-z0-9 ._-]{1,30}", 1 => hostile()].boxed(),
            email: prop_oneof![3 => "[a-z]{1,10}@[a-z]{1,10}\\.test", 1 => hostile()].boxed(),
            password: prop_oneof![3 => "[a-zA-Z0-9 ]{12,40}", 1 => hostile()].boxed(),
            page_token: prop_oneof![3 => Just(String::new()), 1 => hostile()].boxed(),
            number: prop_oneof![6 => 0..=5, 1 => number()].boxed(),
            sequence: prop_oneof![3 => 0i64..100, 1 => any::<i64>()].boxed(),
            flag: any::<bool>().boxed(),
            time: timestamp(),
            mask: mask(),
        }
    }
}

/// Any `int32`, with the boundaries and small values likelier.
fn number() -> BoxedStrategy<i32> {
    prop_oneof![
        3 => -3..=3,
        1 => Just(i32::MIN),
        1 => Just(i32::MAX),
        1 => 1_000..=100_000,
        2 => any::<i32>(),
    ]
    .boxed()
}

/// Any timestamp, including ones no calendar can hold.
fn timestamp() -> BoxedStrategy<Option<Timestamp>> {
    prop_oneof![
        1 => Just(None),
        1 => (0i64..4_000_000_000, 0i32..1_000_000_000)
            .prop_map(|(seconds, nanos)| Some(Timestamp { seconds, nanos })),
        1 => (any::<i64>(), any::<i32>())
            .prop_map(|(seconds, nanos)| Some(Timestamp { seconds, nanos })),
    ]
    .boxed()
}

fn mask() -> BoxedStrategy<Option<FieldMask>> {
    let paths = prop_oneof![
        3 => select(vec![
            "auto_renew".to_owned(),
            "status".to_owned(),
            "display_name".to_owned(),
            "name".to_owned(),
        ]),
        1 => hostile(),
    ];
    prop_oneof![
        1 => Just(None),
        3 => proptest::collection::vec(paths, 0..3).prop_map(|paths| Some(FieldMask { paths })),
    ]
    .boxed()
}

/// One draw from `strategy`.
fn draw<T: Debug>(runner: &mut TestRunner, strategy: &BoxedStrategy<T>) -> T {
    strategy
        .new_tree(runner)
        .expect("the strategies always produce a value")
        .current()
}

/// Asserts that `answer` to `request` is a result or a refusal with a reason.
fn assert_answered<T, R: Debug>(method: &str, request: &R, answer: Result<Response<T>, Status>) {
    let Err(status) = answer else {
        return;
    };
    let request = Shown(request);
    assert!(
        !FAILURES.contains(&status.code()),
        "{method} failed on {request:?}: {status:?}"
    );
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("{method} refused {request:?} without a reason: {status:?}"));
    assert!(
        !info.reason.is_empty(),
        "{method}: empty reason in {status:?}"
    );
    if status.code() == Code::InvalidArgument {
        let blamed = details.bad_request().is_some_and(|bad| {
            !bad.field_violations.is_empty()
                && bad.field_violations.iter().all(|v| !v.field.is_empty())
        });
        assert!(
            blamed,
            "{method} called {request:?} invalid without naming the field: {status:?}"
        );
    }
}

/// A request as a failure shows it: its first 400 characters.
struct Shown<'a, R>(&'a R);

impl<R: Debug> Debug for Shown<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let full = format!("{:?}", self.0);
        match full.char_indices().nth(400) {
            Some((cut, _)) => write!(f, "{} …", &full[..cut]),
            None => f.write_str(&full),
        }
    }
}

/// Sends `SAMPLES` random requests from `make` through `call`, checking each answer.
macro_rules! fuzz {
    ($runner:expr, $method:literal, $make:expr, |$req:ident| $call:expr) => {
        for _ in 0..SAMPLES {
            let request = $make(&mut *$runner);
            let $req = request.clone();
            let answer = $call.await;
            assert_answered($method, &request, answer);
        }
    };
}

/// What exists before the calls, and the credentials to call with: an account with a
/// subscription and a seat, a partner with a provisioned subscription, product keys.
struct World {
    session: String,
    device: String,
    partner_api_key: String,
    account: String,
    subscription: String,
    carrier_subscription: String,
    seat: String,
    partner: String,
    partner_key_name: String,
    partner_code: String,
    product_keys: Vec<String>,
}

async fn world(app: &TestApp) -> World {
    let (account, session) = app.sign_up(&email()).await;
    let bought = app.buy(&account, "deluxe-3").await;
    let activated = app
        .activate(&session, &bought.name, "fuzzed-laptop")
        .await
        .expect("the fixture device is activated");
    let partner = app.partner("Fuzzed Carrier").await;
    let provisioned = app
        .provision(&partner, "contract-fuzz", "plans/deluxe-5")
        .await;
    let mut product_keys = app
        .issue_keys("plans/deluxe-3", 2, pb::ProductKeyKind::New)
        .await;
    product_keys.extend(
        app.issue_keys("plans/deluxe-3", 2, pb::ProductKeyKind::Renewal)
            .await,
    );
    World {
        session,
        device: activated.device_token,
        partner_api_key: partner.api_key,
        account,
        subscription: bought.name,
        carrier_subscription: provisioned
            .subscription
            .expect("a provisioned subscription")
            .name,
        seat: activated.seat.expect("an activation answers its seat").name,
        partner: partner.name,
        partner_key_name: partner.key_name,
        partner_code: provisioned.partner_code,
        product_keys,
    }
}

async fn no_input_makes_the_server_fail_or_answer_without_a_reason(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let world = world(&app).await;
    let fields = Fields::for_world(&world);
    let runner = &mut TestRunner::deterministic();

    accounts(&app, runner, &fields, &world).await;
    seats(&app, runner, &fields, &world).await;
    partners(&app, runner, &fields).await;
    product_keys(&app, runner, &fields, &world).await;
    events(&app, runner, &fields).await;
    subscriptions(&app, runner, &fields, &world).await;
    carrier(&app, runner, &fields, &world).await;

    let health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone())
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("the server still answers health checks")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

async fn accounts(app: &TestApp, runner: &mut TestRunner, f: &Fields, world: &World) {
    let mut accounts = app.accounts();
    fuzz!(
        runner,
        "CreateAccount",
        |r: &mut TestRunner| pb::CreateAccountRequest {
            email: draw(r, &f.email),
            password: draw(r, &f.password),
            display_name: draw(r, &f.label),
        },
        |req| accounts.create_account(req)
    );
    fuzz!(
        runner,
        "SignIn",
        |r: &mut TestRunner| pb::SignInRequest {
            email: draw(r, &f.email),
            password: draw(r, &f.password),
        },
        |req| accounts.sign_in(req)
    );
    fuzz!(
        runner,
        "GetAccount",
        |r: &mut TestRunner| pb::GetAccountRequest {
            name: draw(r, &f.account),
        },
        |req| accounts.get_account(with_token(&world.session, req))
    );
}

async fn seats(app: &TestApp, runner: &mut TestRunner, f: &Fields, world: &World) {
    let mut seats = app.seats();
    fuzz!(
        runner,
        "ActivateSeat",
        |r: &mut TestRunner| pb::ActivateSeatRequest {
            parent: draw(r, &f.subscription),
            device_id: draw(r, &f.label),
            platform: draw(r, &f.number),
            display_name: draw(r, &f.label),
        },
        |req| seats.activate_seat(with_token(&world.session, req))
    );
    fuzz!(
        runner,
        "ListSeats",
        |r: &mut TestRunner| pb::ListSeatsRequest {
            parent: draw(r, &f.subscription),
            page_size: draw(r, &f.number),
            page_token: draw(r, &f.page_token),
            show_deactivated: draw(r, &f.flag),
        },
        |req| seats.list_seats(with_token(&world.session, req))
    );
    fuzz!(
        runner,
        "CheckProtection",
        |_: &mut TestRunner| pb::CheckProtectionRequest {},
        |req| seats.check_protection(with_token(&world.device, req))
    );
    fuzz!(
        runner,
        "ApplySubscription",
        |r: &mut TestRunner| pb::ApplySubscriptionRequest {
            seat: draw(r, &f.seat),
            subscription: draw(r, &f.subscription),
        },
        |req| seats.apply_subscription(with_token(&world.session, req))
    );
    fuzz!(
        runner,
        "DeactivateSeat",
        |r: &mut TestRunner| pb::DeactivateSeatRequest {
            name: draw(r, &f.seat),
        },
        |req| seats.deactivate_seat(with_token(&world.session, req))
    );
}

async fn partners(app: &TestApp, runner: &mut TestRunner, f: &Fields) {
    let mut partners = app.partners();
    fuzz!(
        runner,
        "CreatePartner",
        |r: &mut TestRunner| pb::CreatePartnerRequest {
            display_name: draw(r, &f.label),
        },
        |req| partners.create_partner(with_token(ADMIN_TOKEN, req))
    );
    fuzz!(
        runner,
        "GetPartner",
        |r: &mut TestRunner| pb::GetPartnerRequest {
            name: draw(r, &f.partner),
        },
        |req| partners.get_partner(with_token(ADMIN_TOKEN, req))
    );
    fuzz!(
        runner,
        "ListPartners",
        |r: &mut TestRunner| pb::ListPartnersRequest {
            page_size: draw(r, &f.number),
            page_token: draw(r, &f.page_token),
        },
        |req| partners.list_partners(with_token(ADMIN_TOKEN, req))
    );
    fuzz!(
        runner,
        "UpdatePartner",
        |r: &mut TestRunner| pb::UpdatePartnerRequest {
            partner: Some(pb::Partner {
                name: draw(r, &f.partner),
                display_name: draw(r, &f.label),
                status: draw(r, &f.number),
                ..Default::default()
            }),
            update_mask: draw(r, &f.mask),
        },
        |req| partners.update_partner(with_token(ADMIN_TOKEN, req))
    );
    fuzz!(
        runner,
        "CreatePartnerKey",
        |r: &mut TestRunner| pb::CreatePartnerKeyRequest {
            parent: draw(r, &f.partner),
        },
        |req| partners.create_partner_key(with_token(ADMIN_TOKEN, req))
    );
}

async fn product_keys(app: &TestApp, runner: &mut TestRunner, f: &Fields, world: &World) {
    let mut keys = app.product_keys();
    fuzz!(
        runner,
        "IssueProductKeys",
        |r: &mut TestRunner| pb::IssueProductKeysRequest {
            plan: draw(r, &f.plan),
            count: draw(r, &f.number),
            kind: draw(r, &f.number),
            batch_label: draw(r, &f.label),
        },
        |req| keys.issue_product_keys(with_token(ADMIN_TOKEN, req))
    );
    fuzz!(
        runner,
        "RedeemProductKey",
        |r: &mut TestRunner| pb::RedeemProductKeyRequest {
            product_key: draw(r, &f.product_key),
            subscription: draw(r, &f.subscription),
        },
        |req| keys.redeem_product_key(with_token(&world.session, req))
    );
}

async fn events(app: &TestApp, runner: &mut TestRunner, f: &Fields) {
    let mut events = pb::event_service_client::EventServiceClient::new(app.channel.clone());
    fuzz!(
        runner,
        "WatchEvents",
        |r: &mut TestRunner| pb::WatchEventsRequest {
            after_sequence: draw(r, &f.sequence),
            subscription: draw(r, &f.subscription),
            types: vec![draw(r, &f.number), draw(r, &f.number)],
        },
        |req| events.watch_events(with_token(ADMIN_TOKEN, req))
    );
}

async fn subscriptions(app: &TestApp, runner: &mut TestRunner, f: &Fields, world: &World) {
    let mut subscriptions = app.subscriptions();
    let session = world.session.as_str();
    fuzz!(
        runner,
        "ListPlans",
        |_: &mut TestRunner| pb::ListPlansRequest {},
        |req| subscriptions.list_plans(with_token(session, req))
    );
    fuzz!(
        runner,
        "CreateSubscription",
        |r: &mut TestRunner| pb::CreateSubscriptionRequest {
            parent: draw(r, &f.account),
            plan: draw(r, &f.plan),
            auto_renew: draw(r, &f.flag),
            request_id: draw(r, &f.request_id),
        },
        |req| subscriptions.create_subscription(with_token(ADMIN_TOKEN, req))
    );
    fuzz!(
        runner,
        "GetSubscription",
        |r: &mut TestRunner| pb::GetSubscriptionRequest {
            name: draw(r, &f.subscription),
        },
        |req| subscriptions.get_subscription(with_token(session, req))
    );
    fuzz!(
        runner,
        "ListSubscriptions",
        |r: &mut TestRunner| pb::ListSubscriptionsRequest {
            parent: draw(r, &f.account),
            page_size: draw(r, &f.number),
            page_token: draw(r, &f.page_token),
            status: draw(r, &f.number),
        },
        |req| subscriptions.list_subscriptions(with_token(session, req))
    );
    fuzz!(
        runner,
        "UpdateSubscription",
        |r: &mut TestRunner| pb::UpdateSubscriptionRequest {
            subscription: Some(pb::Subscription {
                name: draw(r, &f.subscription),
                auto_renew: draw(r, &f.flag),
                status: draw(r, &f.number),
                ..Default::default()
            }),
            update_mask: draw(r, &f.mask),
        },
        |req| subscriptions.update_subscription(with_token(session, req))
    );
    fuzz!(
        runner,
        "CheckOverlap",
        |r: &mut TestRunner| pb::CheckOverlapRequest {
            parent: draw(r, &f.account),
        },
        |req| subscriptions.check_overlap(with_token(session, req))
    );
    fuzz!(
        runner,
        "RestoreStorePurchase",
        |r: &mut TestRunner| pb::RestoreStorePurchaseRequest {
            store: draw(r, &f.number),
            signed_proof: draw(r, &f.label),
            signed_renewal_info: draw(r, &f.label),
        },
        |req| subscriptions.restore_store_purchase(with_token(session, req))
    );
    fuzz!(
        runner,
        "RedeemPartnerCode",
        |r: &mut TestRunner| pb::RedeemPartnerCodeRequest {
            partner_code: draw(r, &f.partner_code),
        },
        |req| subscriptions.redeem_partner_code(with_token(session, req))
    );
    fuzz!(
        runner,
        "CancelSubscription",
        |r: &mut TestRunner| pb::CancelSubscriptionRequest {
            name: draw(r, &f.subscription),
            immediately: draw(r, &f.flag),
            request_id: draw(r, &f.request_id),
        },
        |req| subscriptions.cancel_subscription(with_token(session, req))
    );
}

async fn carrier(app: &TestApp, runner: &mut TestRunner, f: &Fields, world: &World) {
    let mut subscriptions = app.subscriptions();
    let partner = world.partner_api_key.as_str();
    fuzz!(
        runner,
        "ProvisionSubscription",
        |r: &mut TestRunner| pb::ProvisionSubscriptionRequest {
            partner_reference: draw(r, &f.reference),
            plan: draw(r, &f.plan),
            start_time: draw(r, &f.time),
            request_id: draw(r, &f.request_id),
        },
        |req| subscriptions.provision_subscription(with_token(partner, req))
    );
    fuzz!(
        runner,
        "ListPartnerSubscriptions",
        |r: &mut TestRunner| pb::ListPartnerSubscriptionsRequest {
            partner_reference: draw(r, &f.reference),
            status: draw(r, &f.number),
            page_size: draw(r, &f.number),
            page_token: draw(r, &f.page_token),
        },
        |req| subscriptions.list_partner_subscriptions(with_token(partner, req))
    );
    fuzz!(
        runner,
        "ChangePlan",
        |r: &mut TestRunner| pb::ChangePlanRequest {
            name: draw(r, &f.carrier_subscription),
            plan: draw(r, &f.plan),
            downgrade_policy: draw(r, &f.number),
            request_id: draw(r, &f.request_id),
        },
        |req| subscriptions.change_plan(with_token(partner, req))
    );
    fuzz!(
        runner,
        "SuspendSubscription",
        |r: &mut TestRunner| pb::SuspendSubscriptionRequest {
            name: draw(r, &f.carrier_subscription),
            request_id: draw(r, &f.request_id),
        },
        |req| subscriptions.suspend_subscription(with_token(partner, req))
    );
    fuzz!(
        runner,
        "ResumeSubscription",
        |r: &mut TestRunner| pb::ResumeSubscriptionRequest {
            name: draw(r, &f.carrier_subscription),
            request_id: draw(r, &f.request_id),
        },
        |req| subscriptions.resume_subscription(with_token(partner, req))
    );
    fuzz!(
        runner,
        "RenewSubscription",
        |r: &mut TestRunner| pb::RenewSubscriptionRequest {
            name: draw(r, &f.carrier_subscription),
            end_time: draw(r, &f.time),
            request_id: draw(r, &f.request_id),
        },
        |req| subscriptions.renew_subscription(with_token(partner, req))
    );
    fuzz!(
        runner,
        "ReissuePartnerCode",
        |r: &mut TestRunner| pb::ReissuePartnerCodeRequest {
            name: draw(r, &f.carrier_subscription),
            request_id: draw(r, &f.request_id),
        },
        |req| subscriptions.reissue_partner_code(with_token(partner, req))
    );
    fuzz!(
        runner,
        "RevokePartnerKey",
        |r: &mut TestRunner| pb::RevokePartnerKeyRequest {
            name: draw(r, &f.partner_key),
        },
        |req| app
            .partners()
            .revoke_partner_key(with_token(ADMIN_TOKEN, req))
    );
}
