//! `PartnerStore`: partners, unique names, pages by name, and API keys.

use crate::fixtures::*;

crate::store_tests!(
    a_partner_reads_back_by_id_and_by_name,
    a_taken_partner_name_is_refused_with_partner_exists_on_create_and_on_rename,
    a_saved_partner_reads_back_renamed_and_disabled_and_an_unknown_one_is_not_found,
    partners_are_listed_by_name_page_by_page,
    a_partner_key_reads_back_only_under_its_partner,
    revoking_a_key_sets_its_revocation_time_once,
    a_key_is_found_by_its_hash_even_when_revoked_or_its_partner_disabled,
    a_partners_keys_are_listed_oldest_first_revoked_ones_too,
);

async fn a_partner_reads_back_by_id_and_by_name(store: Arc<dyn Store>) {
    let created = Partner {
        status: PartnerStatus::Disabled,
        created_at: at(1) + Duration::microseconds(1),
        ..partner("Deutsche Telekom AG")
    };
    store.create_partner(&created).await.unwrap();
    create_partner(&store, "Vodafone").await;

    assert_eq!(
        store.partner(created.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        store.partner_by_name("Deutsche Telekom AG").await.unwrap(),
        Some(created)
    );
    assert_eq!(store.partner(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(store.partner_by_name("Orange").await.unwrap(), None);
}

async fn a_taken_partner_name_is_refused_with_partner_exists_on_create_and_on_rename(
    store: Arc<dyn Store>,
) {
    let telekom = create_partner(&store, "Telekom").await;
    let vodafone = create_partner(&store, "Vodafone").await;

    let twin = partner("Telekom");
    assert_already_exists(store.create_partner(&twin).await, Reason::PartnerExists);
    assert_eq!(store.partner(twin.id).await.unwrap(), None);

    let renamed = Partner {
        display_name: "Telekom".to_owned(),
        ..vodafone.clone()
    };
    assert_already_exists(store.save_partner(&renamed).await, Reason::PartnerExists);
    assert_eq!(store.partner(vodafone.id).await.unwrap(), Some(vodafone));
    assert_eq!(
        store.partner_by_name("Telekom").await.unwrap(),
        Some(telekom.clone())
    );
    // Saving a partner under its own name is no clash.
    store.save_partner(&telekom).await.unwrap();
}

async fn a_saved_partner_reads_back_renamed_and_disabled_and_an_unknown_one_is_not_found(
    store: Arc<dyn Store>,
) {
    let original = create_partner(&store, "Telekom").await;
    let saved = Partner {
        display_name: "Telekom Deutschland".to_owned(),
        status: PartnerStatus::Disabled,
        ..original.clone()
    };
    store.save_partner(&saved).await.unwrap();
    assert_eq!(
        store.partner(original.id).await.unwrap(),
        Some(saved.clone())
    );
    assert_eq!(store.partner_by_name("Telekom").await.unwrap(), None);
    assert_eq!(
        store.partner_by_name("Telekom Deutschland").await.unwrap(),
        Some(saved)
    );
    // The old name is free again.
    create_partner(&store, "Telekom").await;

    assert_not_found(
        store.save_partner(&partner("Nobody")).await,
        Resource::Partner,
    );
}

async fn partners_are_listed_by_name_page_by_page(store: Arc<dyn Store>) {
    let mut names = vec![
        "Orange", "Bouygues", "Vodafone", "Telekom", "Free", "O2", "Iliad",
    ];
    for name in &names {
        create_partner(&store, name).await;
    }
    names.sort();
    let pages = all_pages(3, |page| {
        let store = store.clone();
        async move { store.list_partners(&page).await }
    })
    .await;
    assert_eq!(sizes(&pages), [3, 3, 1]);
    let listed: Vec<String> = pages.concat().into_iter().map(|p| p.display_name).collect();
    assert_eq!(listed, names);
}

async fn a_partner_key_reads_back_only_under_its_partner(store: Arc<dyn Store>) {
    let telekom = create_partner(&store, "Telekom").await;
    let vodafone = create_partner(&store, "Vodafone").await;
    let key = PartnerKey::new(telekom.id, "tsp_abcdefghijklmnopqrstuvwxyz", at(1));
    assert_eq!(key.prefix, "tsp_abcdefgh");
    store.create_partner_key(&key, "hash-1").await.unwrap();

    assert_eq!(
        store.partner_key(telekom.id, key.id).await.unwrap(),
        Some(key.clone())
    );
    assert_eq!(store.partner_key(vodafone.id, key.id).await.unwrap(), None);
    assert_eq!(
        store.partner_key(telekom.id, Uuid::new_v4()).await.unwrap(),
        None
    );
}

async fn revoking_a_key_sets_its_revocation_time_once(store: Arc<dyn Store>) {
    let telekom = create_partner(&store, "Telekom").await;
    let key = PartnerKey::new(telekom.id, "tsp_first", at(1));
    let kept = PartnerKey::new(telekom.id, "tsp_second", at(1));
    store.create_partner_key(&key, "hash-1").await.unwrap();
    store.create_partner_key(&kept, "hash-2").await.unwrap();

    let first = at(10) + Duration::microseconds(10);
    store
        .revoke_partner_key(telekom.id, key.id, first)
        .await
        .unwrap();
    store
        .revoke_partner_key(telekom.id, key.id, at(20))
        .await
        .unwrap();
    assert_eq!(
        store.partner_key(telekom.id, key.id).await.unwrap(),
        Some(PartnerKey {
            revoked_at: Some(first),
            ..key
        }),
        "revoking again moved the revocation time"
    );
    assert_eq!(
        store.partner_key(telekom.id, kept.id).await.unwrap(),
        Some(kept.clone()),
        "revoking one key revoked another"
    );
    // A key is revoked under its own partner only (whether the other partner's attempt
    // is an error is not part of the contract).
    let other = create_partner(&store, "Vodafone").await;
    let _ = store.revoke_partner_key(other.id, kept.id, at(30)).await;
    assert_eq!(
        store.partner_key(telekom.id, kept.id).await.unwrap(),
        Some(kept)
    );
}

async fn a_key_is_found_by_its_hash_even_when_revoked_or_its_partner_disabled(
    store: Arc<dyn Store>,
) {
    let telekom = create_partner(&store, "Telekom").await;
    let working = PartnerKey::new(telekom.id, "tsp_working", at(1));
    let revoked = PartnerKey::new(telekom.id, "tsp_revoked", at(1));
    store
        .create_partner_key(&working, "hash-working")
        .await
        .unwrap();
    store
        .create_partner_key(&revoked, "hash-revoked")
        .await
        .unwrap();
    store
        .revoke_partner_key(telekom.id, revoked.id, at(2))
        .await
        .unwrap();

    let (partner, key) = store
        .partner_key_by_hash("hash-working")
        .await
        .unwrap()
        .expect("a working key");
    assert_eq!((&partner, &key), (&telekom, &working));
    assert!(partner.key_works(&key));

    let (partner, key) = store
        .partner_key_by_hash("hash-revoked")
        .await
        .unwrap()
        .expect("a revoked key is still found");
    assert_eq!(partner, telekom);
    assert_eq!(key.id, revoked.id);
    assert_eq!(key.revoked_at, Some(at(2)));
    assert!(!partner.key_works(&key));

    let disabled = Partner {
        status: PartnerStatus::Disabled,
        ..telekom.clone()
    };
    store.save_partner(&disabled).await.unwrap();
    let (partner, key) = store
        .partner_key_by_hash("hash-working")
        .await
        .unwrap()
        .expect("the key of a disabled partner is still found");
    assert_eq!((&partner, &key), (&disabled, &working));
    assert!(!partner.key_works(&key));

    assert_eq!(
        store.partner_key_by_hash("hash-unknown").await.unwrap(),
        None
    );
}

async fn a_partners_keys_are_listed_oldest_first_revoked_ones_too(store: Arc<dyn Store>) {
    let telekom = create_partner(&store, "Telekom").await;
    let vodafone = create_partner(&store, "Vodafone").await;
    let second = PartnerKey::new(telekom.id, "tsp_second", at(2));
    let first = PartnerKey::new(telekom.id, "tsp_first", at(1));
    let other = PartnerKey::new(vodafone.id, "tsp_other", at(1));
    for (key, hash) in [(&second, "hash-2"), (&first, "hash-1"), (&other, "hash-3")] {
        store.create_partner_key(key, hash).await.unwrap();
    }
    store
        .revoke_partner_key(telekom.id, first.id, at(3))
        .await
        .unwrap();
    let revoked = PartnerKey {
        revoked_at: Some(at(3)),
        ..first
    };

    assert_eq!(
        store.partner_keys(telekom.id).await.unwrap(),
        vec![revoked, second]
    );
    assert_eq!(store.partner_keys(vodafone.id).await.unwrap(), vec![other]);
    assert_eq!(store.partner_keys(Uuid::new_v4()).await.unwrap(), vec![]);
}
