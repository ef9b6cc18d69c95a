//! Reflection, as grpcurl and `buf curl` use it: v1 and v1alpha (grpcurl before 1.8.8
//! speaks only v1alpha), every service listed, and every type a response may carry —
//! the `google.rpc` error details included — resolvable with all the files it needs.

use crate::support::{Db, spawn_app};
use prost::Message;
use prost_types::FileDescriptorProto;
use std::collections::{BTreeSet, VecDeque};
use tessera_client::tonic::transport::Channel;

/// The error details the server sends, and the status that carries them.
const ERROR_TYPES: &[&str] = &[
    "google.rpc.Status",
    "google.rpc.ErrorInfo",
    "google.rpc.BadRequest",
    "google.rpc.PreconditionFailure",
    "google.rpc.RetryInfo",
];

/// A reflection client of one version: the same calls, under its own module.
macro_rules! reflection_client {
    ($name:ident, $pb:path) => {
        mod $name {
            use pb::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse,
            };
            use tessera_client::tonic::transport::Channel;
            use $pb as pb;

            async fn ask(channel: &Channel, request: MessageRequest) -> MessageResponse {
                let mut client = ServerReflectionClient::new(channel.clone());
                let request = ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(request),
                };
                let mut answers = client
                    .server_reflection_info(tokio_stream::iter([request]))
                    .await
                    .expect("the reflection service answers")
                    .into_inner();
                answers
                    .message()
                    .await
                    .expect("the stream does not fail")
                    .expect("one answer")
                    .message_response
                    .expect("the answer has a message")
            }

            /// The services the server lists.
            pub async fn services(channel: &Channel) -> Vec<String> {
                match ask(channel, MessageRequest::ListServices(String::new())).await {
                    MessageResponse::ListServicesResponse(list) => {
                        list.service.into_iter().map(|s| s.name).collect()
                    }
                    other => panic!("not a list of services: {other:?}"),
                }
            }

            /// The encoded files a symbol or a file name resolves to.
            pub async fn files(
                channel: &Channel,
                symbol: Option<&str>,
                file: Option<&str>,
            ) -> Vec<Vec<u8>> {
                let request = match (symbol, file) {
                    (Some(symbol), _) => MessageRequest::FileContainingSymbol(symbol.to_owned()),
                    (None, Some(file)) => MessageRequest::FileByFilename(file.to_owned()),
                    (None, None) => unreachable!(),
                };
                match ask(channel, request).await {
                    MessageResponse::FileDescriptorResponse(files) => files.file_descriptor_proto,
                    other => panic!("{symbol:?} {file:?} does not resolve: {other:?}"),
                }
            }
        }
    };
}

reflection_client!(v1, tonic_reflection::pb::v1);
reflection_client!(v1alpha, tonic_reflection::pb::v1alpha);

/// Every file `symbol` needs, fetched as a tool does: the file declaring it, then each
/// dependency by name.
async fn closure(
    channel: &Channel,
    symbol: &str,
    fetch: impl AsyncFn(&Channel, Option<&str>, Option<&str>) -> Vec<Vec<u8>>,
) -> Vec<FileDescriptorProto> {
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    let mut pending: VecDeque<Vec<u8>> = fetch(channel, Some(symbol), None).await.into();
    while let Some(raw) = pending.pop_front() {
        let file = FileDescriptorProto::decode(raw.as_slice()).unwrap();
        if !seen.insert(file.name().to_owned()) {
            continue;
        }
        for dependency in &file.dependency {
            if !seen.contains(dependency) {
                pending.extend(fetch(channel, None, Some(dependency)).await);
            }
        }
        files.push(file);
    }
    files
}

/// Whether `files` declare the message `full_name` (`package.Message`).
fn declares(files: &[FileDescriptorProto], full_name: &str) -> bool {
    files.iter().any(|file| {
        file.message_type
            .iter()
            .any(|message| format!("{}.{}", file.package(), message.name()) == full_name)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_reflection_versions_list_every_service() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let expected = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "tessera.v1.AccountService",
        "tessera.v1.EventService",
        "tessera.v1.PartnerService",
        "tessera.v1.ProductKeyService",
        "tessera.v1.SeatService",
        "tessera.v1.SubscriptionService",
    ];
    for listed in [
        v1::services(&app.channel).await,
        v1alpha::services(&app.channel).await,
    ] {
        for service in expected {
            assert!(
                listed.iter().any(|s| s == service),
                "{service} missing from {listed:?}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_details_and_the_contract_resolve_with_every_file_they_import() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    for symbol in ERROR_TYPES
        .iter()
        .chain(&["tessera.v1.SeatService", "tessera.v1.Subscription"])
    {
        let alpha = closure(&app.channel, symbol, v1alpha::files).await;
        assert!(
            declares(&alpha, symbol) || symbol.ends_with("Service"),
            "{symbol} (v1alpha)"
        );
        let current = closure(&app.channel, symbol, v1::files).await;
        let names = |files: &[FileDescriptorProto]| {
            files
                .iter()
                .map(|f| f.name().to_owned())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(
            names(&alpha),
            names(&current),
            "{symbol}: the versions differ"
        );
    }
    let details = closure(&app.channel, "google.rpc.ErrorInfo", v1alpha::files).await;
    for detail in &ERROR_TYPES[1..] {
        assert!(
            declares(&details, detail),
            "{detail} is not in error_details.proto"
        );
    }
    assert!(
        details
            .iter()
            .any(|f| f.name() == "google/protobuf/duration.proto")
    );
    app.stop().await;
}
