//! `tessera support …`: customer support's look-ups through the service layer, printed
//! as text for a person or, with `--json`, as one JSON document for a script. Resource
//! names are the API's, so what support reads matches what the apps and carriers see.

use super::{io, open_existing};
use crate::{
    api::names as parse,
    domain::{
        account::Account, event::Event, names, principal::Principal, seat::Seat,
        subscription::Subscription,
    },
    error::Result,
    service::support::{PartnerKeys, SubscriptionDevices},
    settings::{Settings, SupportArgs, SupportCommand},
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::{collections::BTreeMap, io::Write};

/// Runs `tessera support …`, writing the answer to `out`.
pub async fn support(settings: &Settings, args: SupportArgs, out: &mut impl Write) -> Result<()> {
    let services = open_existing(settings).await?;
    let answer = async {
        Ok::<_, crate::Error>(match args.command {
            SupportCommand::FindAccount { email } => View::Account(AccountView::of(
                &services.find_account_by_email(&email).await?,
            )),
            SupportCommand::Account { account } => {
                let id = if account.contains('@') {
                    services.find_account_by_email(&account).await?.id
                } else {
                    parse::account("account", &account, Principal::Admin)?
                };
                let overview = services.account_overview(id).await?;
                let mut view = AccountView::of(&overview.account);
                view.subscriptions = Some(
                    overview
                        .subscriptions
                        .iter()
                        .map(SubscriptionView::of)
                        .collect(),
                );
                View::Account(view)
            }
            SupportCommand::Subscription { subscription } => {
                let id = parse::subscription("subscription", &subscription)?;
                let history = services.subscription_history(id).await?;
                let mut view = SubscriptionView::of(&history.current);
                view.events = Some(history.events.iter().map(EventView::of).collect());
                View::Subscription(view)
            }
            SupportCommand::Partners => View::Partners(
                services
                    .partners_with_keys()
                    .await?
                    .iter()
                    .map(PartnerView::of)
                    .collect(),
            ),
        })
    }
    .await;
    services.store.close().await;
    let answer = answer?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &answer)
            .map_err(|e| io(std::io::Error::other(e)))?;
        writeln!(out).map_err(io)
    } else {
        answer.write_text(out).map_err(io)
    }
}

/// What a look-up found.
#[derive(Serialize)]
#[serde(untagged)]
enum View {
    Account(AccountView),
    Subscription(SubscriptionView),
    Partners(Vec<PartnerView>),
}

#[derive(Serialize)]
struct AccountView {
    name: String,
    email: String,
    display_name: String,
    create_time: String,
    linked_identities: Vec<LinkedIdentity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions: Option<Vec<SubscriptionView>>,
}

#[derive(Serialize)]
struct LinkedIdentity {
    partner: String,
    reference: String,
}

#[derive(Serialize)]
struct SubscriptionView {
    name: String,
    plan: String,
    channel: &'static str,
    status: &'static str,
    account: Option<String>,
    seat_limit: i64,
    active_seat_count: i64,
    start_time: String,
    end_time: String,
    auto_renew: bool,
    cancel_at_period_end: bool,
    partner: Option<String>,
    partner_reference: Option<String>,
    product_key: Option<String>,
    create_time: String,
    update_time: String,
    seats: Vec<SeatView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<Vec<EventView>>,
}

#[derive(Serialize)]
struct SeatView {
    name: String,
    device_id: String,
    platform: &'static str,
    display_name: String,
    activate_time: String,
    last_seen_time: String,
    deactivate_time: Option<String>,
}

#[derive(Serialize)]
struct EventView {
    seq: i64,
    r#type: &'static str,
    actor: &'static str,
    actor_id: Option<String>,
    request_id: Option<String>,
    status: &'static str,
    seat: Option<String>,
    details: BTreeMap<String, String>,
    create_time: String,
}

#[derive(Serialize)]
struct PartnerView {
    name: String,
    display_name: String,
    status: &'static str,
    create_time: String,
    keys: Vec<PartnerKeyView>,
}

#[derive(Serialize)]
struct PartnerKeyView {
    name: String,
    prefix: String,
    create_time: String,
    revoke_time: Option<String>,
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl AccountView {
    fn of(account: &Account) -> Self {
        Self {
            name: names::account(account.id),
            email: account.email.clone(),
            display_name: account.display_name.clone(),
            create_time: time(account.created_at),
            linked_identities: account
                .linked_identities
                .iter()
                .map(|(partner, reference)| LinkedIdentity {
                    partner: names::partner(*partner),
                    reference: reference.clone(),
                })
                .collect(),
            subscriptions: None,
        }
    }
}

impl SubscriptionView {
    fn of(current: &SubscriptionDevices) -> Self {
        let s: &Subscription = &current.subscription;
        Self {
            name: names::subscription(s.id),
            plan: names::plan(&s.plan_code),
            channel: s.channel.as_str(),
            status: s.status.as_str(),
            account: s.account_id.map(names::account),
            seat_limit: s.seat_limit,
            active_seat_count: s.active_seats,
            start_time: time(s.term_start),
            end_time: time(s.term_end),
            auto_renew: s.auto_renew,
            cancel_at_period_end: s.cancel_at_period_end,
            partner: s.partner_id.map(names::partner),
            partner_reference: s.partner_reference.clone(),
            product_key: s.product_key.clone(),
            create_time: time(s.created_at),
            update_time: time(s.updated_at),
            seats: current.seats.iter().map(SeatView::of).collect(),
            events: None,
        }
    }
}

impl SeatView {
    fn of(seat: &Seat) -> Self {
        Self {
            name: names::seat(seat.subscription_id, seat.id),
            device_id: seat.device_id.clone(),
            platform: seat.platform.as_str(),
            display_name: seat.display_name.clone(),
            activate_time: time(seat.activated_at),
            last_seen_time: time(seat.last_seen_at),
            deactivate_time: seat.deactivated_at.map(time),
        }
    }
}

impl EventView {
    fn of(event: &Event) -> Self {
        Self {
            seq: event.seq,
            r#type: event.event_type.as_str(),
            actor: event.actor.kind.as_str(),
            actor_id: event.actor.id.clone(),
            request_id: event.request_id.clone(),
            status: event.subscription.status.as_str(),
            seat: event
                .seat
                .as_ref()
                .map(|seat| names::seat(seat.subscription_id, seat.id)),
            details: event.details.clone(),
            create_time: time(event.created_at),
        }
    }
}

impl PartnerView {
    fn of(partner: &PartnerKeys) -> Self {
        Self {
            name: names::partner(partner.partner.id),
            display_name: partner.partner.display_name.clone(),
            status: partner.partner.status.as_str(),
            create_time: time(partner.partner.created_at),
            keys: partner
                .keys
                .iter()
                .map(|key| PartnerKeyView {
                    name: names::partner_key(key.partner_id, key.id),
                    prefix: key.prefix.clone(),
                    create_time: time(key.created_at),
                    revoke_time: key.revoked_at.map(time),
                })
                .collect(),
        }
    }
}

impl View {
    fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        match self {
            View::Account(account) => account.write_text(out),
            View::Subscription(subscription) => subscription.write_text(out, ""),
            View::Partners(partners) if partners.is_empty() => writeln!(out, "no partners"),
            View::Partners(partners) => partners.iter().try_for_each(|p| p.write_text(out)),
        }
    }
}

impl AccountView {
    fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{}  {}  {:?}",
            self.name, self.email, self.display_name
        )?;
        writeln!(out, "  created {}", self.create_time)?;
        for link in &self.linked_identities {
            writeln!(out, "  linked  {} as {:?}", link.partner, link.reference)?;
        }
        let Some(subscriptions) = &self.subscriptions else {
            return Ok(());
        };
        if subscriptions.is_empty() {
            writeln!(out, "  no subscriptions")?;
        }
        for subscription in subscriptions {
            writeln!(out)?;
            subscription.write_text(out, "  ")?;
        }
        Ok(())
    }
}

impl SubscriptionView {
    fn write_text(&self, out: &mut impl Write, indent: &str) -> std::io::Result<()> {
        writeln!(
            out,
            "{indent}{}  {}  {}  {}  {} of {} seats",
            self.name,
            self.plan,
            self.channel,
            self.status,
            self.active_seat_count,
            self.seat_limit
        )?;
        let mut term = format!("{} to {}", self.start_time, self.end_time);
        if self.auto_renew {
            term.push_str(", renews automatically");
        }
        if self.cancel_at_period_end {
            term.push_str(", cancelled at the end of the term");
        }
        writeln!(out, "{indent}  term     {term}")?;
        if let Some(account) = &self.account {
            writeln!(out, "{indent}  account  {account}")?;
        }
        if let Some(partner) = &self.partner {
            let reference = self.partner_reference.as_deref().unwrap_or("");
            writeln!(out, "{indent}  partner  {partner}, contract {reference:?}")?;
        }
        if let Some(key) = &self.product_key {
            writeln!(out, "{indent}  key      {key}")?;
        }
        writeln!(out, "{indent}  created  {}", self.create_time)?;
        if self.seats.is_empty() {
            writeln!(out, "{indent}  no devices")?;
        }
        for seat in &self.seats {
            let state = match &seat.deactivate_time {
                Some(at) => format!("removed {at}"),
                None => format!("last seen {}", seat.last_seen_time),
            };
            writeln!(
                out,
                "{indent}  device   {:?} ({}, {})  activated {}, {state}",
                seat.display_name, seat.platform, seat.device_id, seat.activate_time
            )?;
            writeln!(out, "{indent}           {}", seat.name)?;
        }
        for event in self.events.iter().flatten() {
            let actor = match &event.actor_id {
                Some(id) => format!("{} {id}", event.actor),
                None => event.actor.to_owned(),
            };
            let mut line = format!(
                "{indent}  event {:>6}  {}  {}  by {actor}  -> {}",
                event.seq, event.create_time, event.r#type, event.status
            );
            if let Some(request_id) = &event.request_id {
                line.push_str(&format!("  request {request_id}"));
            }
            if let Some(seat) = &event.seat {
                line.push_str(&format!("  {seat}"));
            }
            for (key, value) in &event.details {
                line.push_str(&format!("  {key}={value}"));
            }
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}

impl PartnerView {
    fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{}  {:?}  {}  created {}",
            self.name, self.display_name, self.status, self.create_time
        )?;
        if self.keys.is_empty() {
            writeln!(out, "  no keys")?;
        }
        for key in &self.keys {
            let state = match &key.revoke_time {
                Some(at) => format!("revoked {at}"),
                None => "live".to_owned(),
            };
            writeln!(
                out,
                "  key {}  {}…  created {}, {state}",
                key.name, key.prefix, key.create_time
            )?;
        }
        Ok(())
    }
}
