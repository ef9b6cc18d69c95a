use crate::support::{
    Db, PASSWORD, admin, assert_error, assert_invalid_field, email, on_both_backends, spawn_app,
};
use tessera_client::{pb, tonic::Code, with_token};

on_both_backends!(
    a_customer_signs_up_signs_in_and_reads_their_account,
    sign_up_rejects_bad_input_naming_the_field,
    an_e_mail_address_holds_one_account_whatever_its_case,
    sign_in_refuses_a_wrong_password_and_an_unknown_e_mail_alike,
    signing_out_ends_the_session,
    calls_without_valid_credentials_are_unauthenticated,
);

async fn a_customer_signs_up_signs_in_and_reads_their_account(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let address = email();
    let (name, token) = app.sign_up(&address).await;
    assert!(name.starts_with("accounts/"));

    let me = app
        .accounts()
        .get_account(with_token(
            &token,
            pb::GetAccountRequest {
                name: "accounts/me".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.name, name);
    assert_eq!(me.email, address);
    assert_eq!(me.display_name, "Test Customer");
    assert!(me.create_time.is_some());

    let by_name = app
        .accounts()
        .get_account(with_token(
            &token,
            pb::GetAccountRequest { name: name.clone() },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_name, me);

    let by_admin = app
        .accounts()
        .get_account(admin(pb::GetAccountRequest { name: name.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_admin.email, address);
    app.stop().await;
}

async fn sign_up_rejects_bad_input_naming_the_field(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let cases = [
        ("not-an-email", PASSWORD, "", "email"),
        ("", PASSWORD, "", "email"),
        ("ok@example.com", "short", "", "password"),
        (
            "ok@example.com",
            PASSWORD,
            &"x".repeat(101) as &str,
            "display_name",
        ),
        ("ok@example.com", PASSWORD, "bell\u{7}", "display_name"),
    ];
    for (address, password, display_name, field) in cases {
        let status = app
            .accounts()
            .create_account(pb::CreateAccountRequest {
                email: address.into(),
                password: password.into(),
                display_name: display_name.into(),
            })
            .await
            .unwrap_err();
        assert_invalid_field(&status, field);
        assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
    }
    // Nothing was half-written: the address is still free.
    app.sign_up("ok@example.com").await;
    app.stop().await;
}

async fn an_e_mail_address_holds_one_account_whatever_its_case(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.sign_up("Ann@Example.com").await;
    let status = app
        .accounts()
        .create_account(pb::CreateAccountRequest {
            email: "ann@EXAMPLE.com".into(),
            password: PASSWORD.into(),
            display_name: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::AlreadyExists, "ACCOUNT_EXISTS");
    app.stop().await;
}

async fn sign_in_refuses_a_wrong_password_and_an_unknown_e_mail_alike(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let address = email();
    app.sign_up(&address).await;
    let wrong_password = app
        .accounts()
        .sign_in(pb::SignInRequest {
            email: address,
            password: "not the password".into(),
        })
        .await
        .unwrap_err();
    let unknown = app
        .accounts()
        .sign_in(pb::SignInRequest {
            email: email(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap_err();
    assert_error(
        &wrong_password,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert_error(&unknown, Code::Unauthenticated, "INVALID_CREDENTIALS");
    assert_eq!(wrong_password.message(), unknown.message());
    app.stop().await;
}

async fn signing_out_ends_the_session(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    app.accounts()
        .sign_out(with_token(&token, pb::SignOutRequest {}))
        .await
        .unwrap();
    let status = app
        .accounts()
        .get_account(with_token(
            &token,
            pb::GetAccountRequest {
                name: "accounts/me".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_error(&status, Code::Unauthenticated, "CREDENTIALS_INVALID");
    app.stop().await;
}

async fn calls_without_valid_credentials_are_unauthenticated(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let request = || pb::GetAccountRequest {
        name: "accounts/me".into(),
    };
    let missing = app.accounts().get_account(request()).await.unwrap_err();
    assert_error(&missing, Code::Unauthenticated, "CREDENTIALS_MISSING");
    for token in ["tss_forged", "tsd_forged", "wrong-admin-token"] {
        let invalid = app
            .accounts()
            .get_account(with_token(token, request()))
            .await
            .unwrap_err();
        assert_error(&invalid, Code::Unauthenticated, "CREDENTIALS_INVALID");
    }
    app.stop().await;
}
