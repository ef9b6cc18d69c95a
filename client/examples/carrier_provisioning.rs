//! A carrier's view of one customer contract, from provisioning to cancellation, against
//! a running Tessera server.
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
//! cargo run -p tessera-client --example carrier_provisioning
//! ```
//!
//! `TESSERA_ENDPOINT` (default `http://127.0.0.1:50051`) and `TESSERA_ADMIN_TOKEN`
//! (default `dev-admin-token`) point it elsewhere. Every run registers a fresh partner and
//! customer, so it can be run again and again.

use std::error::Error;

use tessera_client::{
    CarrierClient, CarrierConfig, connect, error_reason, pb, tonic::Status, with_token,
};
use uuid::Uuid;

use pb::{
    account_service_client::AccountServiceClient, partner_service_client::PartnerServiceClient,
    seat_service_client::SeatServiceClient, subscription_service_client::SubscriptionServiceClient,
};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn status_name(status: i32) -> &'static str {
    pb::SubscriptionStatus::try_from(status)
        .map(|s| s.as_str_name().trim_start_matches("SUBSCRIPTION_STATUS_"))
        .unwrap_or("UNKNOWN")
}

fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp.map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// One line on a subscription as the carrier sees it.
fn summary(subscription: &pb::Subscription) -> String {
    format!(
        "{} on {}: {}, {} of {} devices, {} days left, {}",
        subscription.name,
        subscription.plan,
        status_name(subscription.status),
        subscription.active_seat_count,
        subscription.seat_limit,
        subscription.days_left,
        if subscription.claimed {
            "claimed by the customer"
        } else {
            "not claimed yet"
        },
    )
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
    let run_id = Uuid::new_v4().simple().to_string()[..8].to_owned();

    println!("connecting to {endpoint}");
    let channel = connect(endpoint.clone()).await?;

    // 1. The vendor registers the carrier and gives it an API key.
    let mut partners = PartnerServiceClient::new(channel.clone());
    let partner = partners
        .create_partner(with_token(
            &admin_token,
            pb::CreatePartnerRequest {
                display_name: format!("Example Carrier {run_id}"),
            },
        ))
        .await?
        .into_inner();
    let key = partners
        .create_partner_key(with_token(
            &admin_token,
            pb::CreatePartnerKeyRequest {
                parent: partner.name.clone(),
            },
        ))
        .await?
        .into_inner();
    println!(
        "[vendor]   registered {} ({}) with API key {}…",
        partner.display_name,
        partner.name,
        key.key.as_ref().map_or("", |k| k.prefix.as_str()),
    );

    // 2. The carrier provisions the security package on contract start.
    let carrier = CarrierClient::connect(CarrierConfig::new(endpoint, key.api_key)).await?;
    let contract = format!("contract-{run_id}");
    let provisioned = carrier.provision(&contract, "plans/deluxe-3", None).await?;
    let subscription = provisioned.subscription.unwrap_or_default();
    let name = subscription.name.clone();
    println!("[carrier]  provisioned {}", summary(&subscription));
    println!(
        "[carrier]  partner code for {contract}: {} (valid until {})",
        provisioned.partner_code,
        time(provisioned.partner_code_expire_time.as_ref()),
    );

    // 3. The customer signs up, enters the code and protects two devices.
    let mut accounts = AccountServiceClient::new(channel.clone());
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let mut seats = SeatServiceClient::new(channel);
    let email = format!("customer-{run_id}@example.com");
    let password = "correct horse battery staple";
    accounts
        .create_account(pb::CreateAccountRequest {
            email: email.clone(),
            password: password.to_owned(),
            display_name: "Carrier Customer".to_owned(),
        })
        .await?;
    let session = accounts
        .sign_in(pb::SignInRequest {
            email: email.clone(),
            password: password.to_owned(),
        })
        .await?
        .into_inner()
        .session_token;
    println!("[customer] signed up as {email}");
    let redeemed = subscriptions
        .redeem_partner_code(with_token(
            &session,
            pb::RedeemPartnerCodeRequest {
                partner_code: provisioned.partner_code.clone(),
            },
        ))
        .await?
        .into_inner();
    println!(
        "[customer] redeemed the code: {} is now in {}",
        redeemed.name, redeemed.account
    );
    for (platform, display_name) in [
        (pb::Platform::Android, "Phone"),
        (pb::Platform::Windows, "Laptop"),
    ] {
        let seat = seats
            .activate_seat(with_token(
                &session,
                pb::ActivateSeatRequest {
                    parent: name.clone(),
                    device_id: format!("device-{}", Uuid::new_v4().simple()),
                    platform: platform.into(),
                    display_name: display_name.to_owned(),
                },
            ))
            .await?
            .into_inner()
            .seat
            .unwrap_or_default();
        println!("[customer] activated {display_name} ({})", seat.name);
    }

    // 4. The carrier's portal view: counts, never devices.
    let found = carrier.find_by_reference(&contract).await?;
    println!("[carrier]  {} subscription(s) for {contract}", found.len());
    let current = carrier.get(&name).await?;
    println!("[carrier]  {}", summary(&current));

    // 5. Non-payment: suspend, then resume once the bill is paid.
    let suspended = carrier.suspend(&name).await?;
    println!("[carrier]  suspended: {}", summary(&suspended));
    let resumed = carrier.resume(&name).await?;
    println!("[carrier]  resumed: {}", summary(&resumed));

    // 6. The customer upgrades the contract to ten devices.
    let changed = carrier
        .change_plan(&name, "plans/premium-10", pb::DowngradePolicy::Reject)
        .await?;
    println!(
        "[carrier]  upgraded: {}",
        summary(&changed.subscription.unwrap_or_default())
    );

    // 7. The contract ends at once.
    let cancelled = carrier.cancel(&name, true).await?;
    println!(
        "[carrier]  cancelled: {} (term ended {})",
        summary(&cancelled),
        time(cancelled.end_time.as_ref()),
    );
    Ok(())
}
