use crate::support::{Db, spawn_app};
use tessera_client::{
    pb,
    tonic::{Code, Request, metadata::MetadataValue},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_callers_request_id_or_a_generated_one() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let mut request = Request::new(pb::ListPlansRequest::default());
    request.metadata_mut().insert(
        "x-request-id",
        MetadataValue::from_static("support-ticket-4711"),
    );
    let answer = app.subscriptions().list_plans(request).await.unwrap();
    assert_eq!(
        answer.metadata().get("x-request-id").unwrap(),
        "support-ticket-4711"
    );

    // An error answers in the headers alone; it carries the id as well.
    let mut request = Request::new(pb::GetSubscriptionRequest {
        name: "subscriptions/0".to_owned(),
    });
    request.metadata_mut().insert(
        "x-request-id",
        MetadataValue::from_static("support-ticket-4712"),
    );
    let refused = app
        .subscriptions()
        .get_subscription(request)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(
        refused.metadata().get("x-request-id").unwrap(),
        "support-ticket-4712"
    );

    // Without one, the server makes one up: distinct per call.
    let mut generated = Vec::new();
    for _ in 0..2 {
        let answer = app
            .subscriptions()
            .list_plans(pb::ListPlansRequest::default())
            .await
            .unwrap();
        let id = answer
            .metadata()
            .get("x-request-id")
            .expect("a generated id");
        generated.push(id.to_str().unwrap().to_owned());
    }
    assert_ne!(generated[0], generated[1]);
    assert!(
        generated
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    );
    app.stop().await;
}
