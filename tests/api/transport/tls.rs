//! TLS end to end with a test CA: calls over TLS, plain text refused, certificates
//! replaced on disk served without a restart, and partners authenticated by a client
//! certificate bound to them (mutual TLS).

use super::{Ca, Issued, Pki, Server, closed_within};
use crate::support::{Db, admin, assert_error, on_both_backends};
use std::time::Duration;
use tessera::settings::{PartnerCertCommand, PartnerCommand};
use tessera_client::{
    CarrierClient, CarrierConfig,
    pb::{self, subscription_service_client::SubscriptionServiceClient},
    tonic::{
        Code,
        transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
    },
    with_token,
};
use tokio::net::TcpStream;

on_both_backends!(
    a_partner_calls_with_its_client_certificate_alone,
    a_client_certificate_bound_to_no_partner_authenticates_no_one,
);

/// A TLS channel to `server` trusting `ca`, presenting `client` if given.
async fn tls_channel(
    server: &Server,
    ca: &Ca,
    client: Option<&Issued>,
) -> Result<Channel, tessera_client::tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca.pem))
        .domain_name("localhost");
    if let Some(client) = client {
        tls = tls.identity(Identity::from_pem(&client.certificate_pem, &client.key_pem));
    }
    Endpoint::from_shared(format!("https://{}", server.addr))?
        .tls_config(tls)?
        .connect()
        .await
}

async fn list_plans(channel: Channel) -> Result<usize, tessera_client::tonic::Status> {
    SubscriptionServiceClient::new(channel)
        .list_plans(pb::ListPlansRequest {})
        .await
        .map(|response| response.into_inner().plans.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_work_over_tls_and_plain_text_to_the_tls_port_fails() {
    let pki = Pki::new();
    let ca = Ca::new("Test Server CA");
    let server = Server::start(Db::Sqlite, |settings| {
        pki.configure(settings, &ca.server("first"), None)
    })
    .await
    .unwrap();

    let channel = tls_channel(&server, &ca, None).await.expect("TLS connects");
    assert!(list_plans(channel).await.expect("a call over TLS") > 0);

    let plain = async {
        let channel = Endpoint::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .connect()
            .await?;
        list_plans(channel).await.map_err(Into::into)
    };
    let plain: Result<usize, Box<dyn std::error::Error>> = plain.await;
    assert!(plain.is_err(), "plain text was served on the TLS port");

    // The client crate's `connect` speaks TLS to https:// endpoints (it trusts only the
    // system's roots, so here the test CA's certificate is what it refuses).
    let error = tessera_client::connect(format!("https://{}", server.addr))
        .await
        .expect_err("the test CA is not a system root");
    let chain = format!("{error:?}");
    assert!(
        !chain.contains("without TLS"),
        "connect did not speak TLS: {chain}"
    );
    assert!(chain.to_lowercase().contains("certificate"), "{chain}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_starts_the_tls_handshake_is_closed() {
    let pki = Pki::new();
    let ca = Ca::new("Test Server CA");
    let server = Server::start(Db::Sqlite, |settings| {
        pki.configure(settings, &ca.server("first"), None);
        settings.handshake_timeout_seconds = 1;
    })
    .await
    .unwrap();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    closed_within(&mut silent, Duration::from_secs(10)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_replaced_on_disk_is_served_to_the_next_connection() {
    let pki = Pki::new();
    let old_ca = Ca::new("Old Server CA");
    let new_ca = Ca::new("New Server CA");
    let server = Server::start(Db::Sqlite, |settings| {
        pki.configure(settings, &old_ca.server("old"), None)
    })
    .await
    .unwrap();
    let open = tls_channel(&server, &old_ca, None).await.unwrap();
    list_plans(open.clone()).await.unwrap();
    assert!(tls_channel(&server, &new_ca, None).await.is_err());

    // Half a replacement (the certificate without its key) does not load: the old pair
    // is served meanwhile.
    let new = new_ca.server("new");
    pki.write("server.pem", &new.certificate_pem);
    let meanwhile = tls_channel(&server, &old_ca, None).await;
    assert!(
        meanwhile.is_ok(),
        "the old certificate is kept: {meanwhile:?}"
    );

    pki.write("server.key", &new.key_pem);
    let renewed = tls_channel(&server, &new_ca, None)
        .await
        .expect("the next connection gets the new certificate");
    list_plans(renewed).await.unwrap();
    assert!(tls_channel(&server, &old_ca, None).await.is_err());
    // The connection opened before keeps working.
    list_plans(open)
        .await
        .expect("an open connection is not cut");
    server.stop().await;
}

/// A TLS server that asks for client certificates from `clients`, trusted by `ca`.
async fn mtls_server(db: Db, pki: &Pki, ca: &Ca, clients: &Ca) -> Option<Server> {
    Server::start(db, |settings| {
        pki.configure(settings, &ca.server("tessera"), Some(clients))
    })
    .await
}

/// Runs `tessera partner …` against the server's database, as an operator would: what
/// it prints.
async fn partner_command(server: &Server, command: PartnerCommand) -> Vec<String> {
    let mut out = Vec::new();
    tessera::cli::partner(&server.settings, command, &mut out)
        .await
        .expect("the command succeeds");
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn a_partner_calls_with_its_client_certificate_alone(db: Db) {
    let pki = Pki::new();
    let ca = Ca::new("Test Server CA");
    let clients = Ca::new("Partner Client CA");
    let Some(server) = mtls_server(db, &pki, &ca, &clients).await else {
        return;
    };
    let certificate = clients.client("carrier.example");
    let created = partner_command(
        &server,
        PartnerCommand::Create {
            name: "Certified Carrier".to_owned(),
        },
    )
    .await;
    let partner = created[0].split('\t').next().unwrap().to_owned();
    let bound = partner_command(
        &server,
        PartnerCommand::Cert(PartnerCertCommand::Add {
            partner: partner.clone(),
            certificate: pki.write("carrier.pem", &certificate.certificate_pem),
        }),
    )
    .await;
    let binding = bound[0].clone();
    assert!(
        binding.starts_with(&format!("{partner}/keys/")),
        "{bound:?}"
    );
    assert!(bound[1].starts_with("x509:"), "{bound:?}");

    // No API key at all: the certificate authenticates.
    let config = CarrierConfig::new(format!("https://{}", server.addr), "")
        .with_ca_certificate_pem(ca.pem.as_bytes())
        .with_tls_domain_name("localhost")
        .with_client_certificate_pem(
            certificate.certificate_pem.as_bytes(),
            certificate.key_pem.as_bytes(),
        );
    let carrier = CarrierClient::connect(config.clone()).await.unwrap();
    let provisioned = carrier
        .provision("contract-mtls", "plans/deluxe-3", None)
        .await
        .expect("the partner provisions with its certificate");
    let subscription = provisioned.subscription.unwrap();
    assert_eq!(subscription.partner, partner);

    // Revoking the binding, like any key, ends it (new calls are refused).
    let admin_channel = tls_channel(&server, &ca, None).await.unwrap();
    pb::partner_service_client::PartnerServiceClient::new(admin_channel)
        .revoke_partner_key(admin(pb::RevokePartnerKeyRequest { name: binding }))
        .await
        .expect("the admin revokes the binding");
    let refused = carrier
        .get(&subscription.name)
        .await
        .expect_err("the revoked certificate is refused");
    assert_error(&refused, Code::Unauthenticated, "CREDENTIALS_INVALID");

    // Without a certificate, the same call carries no credentials; and the fingerprint,
    // which is no secret, is no bearer token.
    let anonymous = tls_channel(&server, &ca, None).await.unwrap();
    let fingerprint = SubscriptionServiceClient::new(anonymous.clone())
        .get_subscription(with_token(
            &bound[1],
            pb::GetSubscriptionRequest {
                name: subscription.name.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_error(&fingerprint, Code::Unauthenticated, "CREDENTIALS_INVALID");
    let missing = SubscriptionServiceClient::new(anonymous)
        .get_subscription(pb::GetSubscriptionRequest {
            name: subscription.name.clone(),
        })
        .await
        .unwrap_err();
    assert_error(&missing, Code::Unauthenticated, "CREDENTIALS_MISSING");
    server.stop().await;
}

async fn a_client_certificate_bound_to_no_partner_authenticates_no_one(db: Db) {
    let pki = Pki::new();
    let ca = Ca::new("Test Server CA");
    let clients = Ca::new("Partner Client CA");
    let Some(server) = mtls_server(db, &pki, &ca, &clients).await else {
        return;
    };
    let request = pb::ListPartnerSubscriptionsRequest::default;

    // From the trusted CA but bound to no partner: the handshake succeeds, the call is
    // not authenticated.
    let unbound = clients.client("someone");
    let channel = tls_channel(&server, &ca, Some(&unbound)).await.unwrap();
    let status = SubscriptionServiceClient::new(channel)
        .list_partner_subscriptions(request())
        .await
        .unwrap_err();
    assert_error(&status, Code::Unauthenticated, "CREDENTIALS_INVALID");

    // From another CA: refused in the handshake.
    let rogue = Ca::new("Rogue CA").client("carrier.example");
    let refused = async {
        let channel = tls_channel(&server, &ca, Some(&rogue)).await?;
        SubscriptionServiceClient::new(channel)
            .list_partner_subscriptions(request())
            .await
            .map_err(Into::into)
    };
    let refused: Result<_, Box<dyn std::error::Error>> = refused.await;
    assert!(
        refused.is_err(),
        "a certificate from another CA was accepted"
    );
    // Customers and devices still need no certificate.
    let plain = tls_channel(&server, &ca, None).await.unwrap();
    assert!(list_plans(plain).await.unwrap() > 0);
    server.stop().await;
}
