//! A newcomer's first session against a running Tessera server.
//!
//! Start the server in one terminal:
//!
//! ```text
//! cargo run --release -- serve --admin-token dev-admin-token
//! ```
//!
//! and run this in another:
//!
//! ```text
//! cargo run --example first_session
//! ```
//!
//! `TESSERA_ENDPOINT` (default `http://127.0.0.1:50051`) and `TESSERA_ADMIN_TOKEN`
//! (default `dev-admin-token`) point it elsewhere. Every run signs up a fresh account, so
//! it can be run again and again.

use std::error::Error;
use tessera_client::{connect, error_reason, pb, tonic::Status, with_token};
use uuid::Uuid;

use pb::{
    account_service_client::AccountServiceClient, seat_service_client::SeatServiceClient,
    subscription_service_client::SubscriptionServiceClient,
};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn status_name(status: i32) -> &'static str {
    pb::SubscriptionStatus::try_from(status)
        .map(|s| s.as_str_name().trim_start_matches("SUBSCRIPTION_STATUS_"))
        .unwrap_or("UNKNOWN")
}

/// A failed call as one line: code, message and the `ErrorInfo` reason.
fn explain(status: &Status) -> String {
    let reason = error_reason(status)
        .map(|reason| format!(" (reason {reason})"))
        .unwrap_or_default();
    format!("{:?}: {}{reason}", status.code(), status.message())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    run()
        .await
        .map_err(|error| match error.downcast::<Status>() {
            Ok(status) => explain(&status).into(),
            Err(other) => other,
        })
}

async fn run() -> Result<(), Box<dyn Error>> {
    let endpoint = env_or("TESSERA_ENDPOINT", "http://127.0.0.1:50051");
    let admin_token = env_or("TESSERA_ADMIN_TOKEN", "dev-admin-token");

    println!("connecting to {endpoint}");
    let channel = connect(endpoint).await?;
    let mut accounts = AccountServiceClient::new(channel.clone());
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let mut seats = SeatServiceClient::new(channel);

    // 1. Sign up and sign in. A random address keeps reruns from colliding.
    let email = format!("newcomer-{}@example.com", Uuid::new_v4().simple());
    let password = "correct horse battery staple";
    let account = accounts
        .create_account(pb::CreateAccountRequest {
            email: email.clone(),
            password: password.to_owned(),
            display_name: "First Session".to_owned(),
        })
        .await?
        .into_inner();
    println!("created account {} <{}>", account.name, account.email);

    let signed_in = accounts
        .sign_in(pb::SignInRequest {
            email,
            password: password.to_owned(),
        })
        .await?
        .into_inner();
    let session = signed_in.session_token;
    println!("signed in; session token {}…", &session[..12]);

    // 2. The catalog needs no credentials.
    let plans = subscriptions
        .list_plans(pb::ListPlansRequest {})
        .await?
        .into_inner()
        .plans;
    println!("{} plans on sale:", plans.len());
    for plan in &plans {
        let term = match (plan.term_months, plan.term_days) {
            (1, _) => "1 month".to_owned(),
            (0, days) => format!("{days} days"),
            (months, _) => format!("{months} months"),
        };
        println!(
            "  {:<24} {:>2} seats  {:<10} {}",
            plan.name, plan.seat_limit, term, plan.display_name
        );
    }

    // 3. The web shop (admin credentials) sells the account a Deluxe plan. The request
    //    id makes a retry of this call safe.
    let subscription = subscriptions
        .create_subscription(with_token(
            &admin_token,
            pb::CreateSubscriptionRequest {
                parent: account.name.clone(),
                plan: "plans/deluxe-3".to_owned(),
                auto_renew: true,
                request_id: Uuid::new_v4().to_string(),
            },
        ))
        .await?
        .into_inner();
    println!(
        "bought {} as {}: {}, {} seats, {} days left",
        subscription.plan,
        subscription.name,
        status_name(subscription.status),
        subscription.seat_limit,
        subscription.days_left
    );

    // 4. Two devices take a seat each, using the account's session.
    let devices = [
        ("laptop-0001", pb::Platform::Windows, "Work laptop"),
        ("phone-0001", pb::Platform::Android, "My phone"),
    ];
    let mut device_tokens = Vec::new();
    for (device_id, platform, display_name) in devices {
        let activated = seats
            .activate_seat(with_token(
                &session,
                pb::ActivateSeatRequest {
                    parent: subscription.name.clone(),
                    device_id: device_id.to_owned(),
                    platform: platform as i32,
                    display_name: display_name.to_owned(),
                },
            ))
            .await?
            .into_inner();
        let seat = activated.seat.unwrap_or_default();
        println!(
            "activated {:?} ({}) as {}",
            seat.display_name,
            platform.as_str_name().trim_start_matches("PLATFORM_"),
            seat.name
        );
        device_tokens.push((display_name, activated.device_token));
    }

    // 5. Each device asks "am I protected?" with its own device token.
    for (display_name, token) in &device_tokens {
        let answer = seats
            .check_protection(with_token(token, pb::CheckProtectionRequest {}))
            .await?
            .into_inner();
        let verdict = if answer.protected {
            "protected"
        } else {
            "NOT protected"
        };
        println!(
            "{display_name:?} is told: {verdict}, subscription {}, {} days left",
            status_name(answer.status),
            answer.days_left
        );
    }

    // 6. The account page shows how many seats are taken.
    let subscription = subscriptions
        .get_subscription(with_token(
            &session,
            pb::GetSubscriptionRequest {
                name: subscription.name,
            },
        ))
        .await?
        .into_inner();
    println!(
        "{}: {} of {} seats taken",
        subscription.name, subscription.active_seat_count, subscription.seat_limit
    );
    Ok(())
}
