//! `AccountStore` and `AccountTx`: accounts, linked identities, sessions.

use crate::fixtures::*;
use tessera::domain::account::Email;

crate::store_tests!(
    an_account_reads_back_as_created_and_is_found_by_its_lower_cased_email,
    a_taken_email_is_refused_with_account_exists,
    linked_identities_read_back_oldest_first_and_linking_twice_does_nothing,
    an_account_is_visible_to_all_and_to_itself_and_not_found_by_anyone_else,
    a_session_names_its_account_and_expiry_until_it_is_deleted,
);

async fn an_account_reads_back_as_created_and_is_found_by_its_lower_cased_email(
    store: Arc<dyn Store>,
) {
    let email = Email::parse(" Ann.Lee@Example.COM ").unwrap();
    let created = Account {
        email: email.as_str().to_owned(),
        ..account("unused")
    };
    store
        .create_account(&created, "$argon2id$v=19$hash-of-ann")
        .await
        .unwrap();

    let read = store.account(Scope::All, created.id).await.unwrap();
    assert_eq!(read, created);
    assert_eq!(read.email, "ann.lee@example.com");
    assert_eq!(
        store
            .account_credentials("ann.lee@example.com")
            .await
            .unwrap(),
        Some((created.id, "$argon2id$v=19$hash-of-ann".to_owned()))
    );
    assert_eq!(
        store.account_credentials("bob@example.com").await.unwrap(),
        None
    );
}

async fn a_taken_email_is_refused_with_account_exists(store: Arc<dyn Store>) {
    let first = create_account(&store, "ann").await;
    let second = Account {
        email: first.email.clone(),
        ..account("other")
    };
    assert_already_exists(
        store.create_account(&second, "another hash").await,
        Reason::AccountExists,
    );
    assert_not_found(
        store.account(Scope::All, second.id).await,
        Resource::Account,
    );
    assert_eq!(
        store.account_credentials(&first.email).await.unwrap(),
        Some((first.id, "$argon2id$stand-in".to_owned()))
    );
}

async fn linked_identities_read_back_oldest_first_and_linking_twice_does_nothing(
    store: Arc<dyn Store>,
) {
    let ann = create_account(&store, "ann").await;
    let telekom = create_partner(&store, "Telekom").await;
    let vodafone = create_partner(&store, "Vodafone").await;

    let mut tx = store.begin(system(at(10))).await.unwrap();
    tx.link_identity(ann.id, telekom.id, "T-42", at(10))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin(system(at(5))).await.unwrap();
    // Linked later in the database, but earlier by its time: order is by link time.
    tx.link_identity(ann.id, vodafone.id, "V-7", at(5))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin(system(at(20))).await.unwrap();
    tx.link_identity(ann.id, telekom.id, "T-43", at(20))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let expected = vec![
        (vodafone.id, "V-7".to_owned()),
        (telekom.id, "T-42".to_owned()),
        (telekom.id, "T-43".to_owned()),
    ];
    let read = store.account(Scope::All, ann.id).await.unwrap();
    assert_eq!(read.linked_identities, expected);

    let mut tx = store.begin(system(at(30))).await.unwrap();
    tx.link_identity(ann.id, telekom.id, "T-42", at(30))
        .await
        .expect("linking an identity again is no error");
    tx.commit().await.unwrap();
    let read = store.account(Scope::All, ann.id).await.unwrap();
    assert_eq!(
        read.linked_identities, expected,
        "linking twice did something"
    );
}

async fn an_account_is_visible_to_all_and_to_itself_and_not_found_by_anyone_else(
    store: Arc<dyn Store>,
) {
    let ann = create_account(&store, "ann").await;
    let bob = create_account(&store, "bob").await;
    let partner = create_partner(&store, "Telekom").await;
    let subscription = owned_by(ann.id);
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;

    assert_eq!(store.account(Scope::All, ann.id).await.unwrap(), ann);
    assert_eq!(
        store.account(Scope::Account(ann.id), ann.id).await.unwrap(),
        ann
    );
    for scope in [
        Scope::Account(bob.id),
        Scope::Partner(partner.id),
        Scope::Subscription(subscription.id),
        Scope::Nothing,
    ] {
        assert_not_found(store.account(scope, ann.id).await, Resource::Account);
    }
    let missing = Uuid::new_v4();
    assert_not_found(store.account(Scope::All, missing).await, Resource::Account);
    assert_not_found(
        store.account(Scope::Account(missing), missing).await,
        Resource::Account,
    );
}

async fn a_session_names_its_account_and_expiry_until_it_is_deleted(store: Arc<dyn Store>) {
    let ann = create_account(&store, "ann").await;
    let expires_at = at(3600);
    store
        .create_session("session-hash", ann.id, t0(), expires_at)
        .await
        .unwrap();
    store
        .create_session("other-hash", ann.id, t0(), expires_at)
        .await
        .unwrap();

    let session = || {
        let store = store.clone();
        async move { store.session("session-hash").await.unwrap() }
    };
    assert_eq!(session().await, Some((ann.id, expires_at)));
    assert_eq!(store.session("unknown").await.unwrap(), None);

    store.delete_session("session-hash").await.unwrap();
    assert_eq!(session().await, None, "a deleted session");
    assert_eq!(
        store.session("other-hash").await.unwrap(),
        Some((ann.id, expires_at)),
        "deleting one session ended another"
    );
    store
        .delete_session("session-hash")
        .await
        .expect("deleting an unknown session is no error");
}
