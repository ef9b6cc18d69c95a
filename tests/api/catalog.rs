//! The catalog as data: `--catalog FILE` replaces the built-in one, `ListPlans` serves it
//! with the store products that grant each plan, other calls sell only its plans, and a
//! file with a mistake stops start-up with the line that has it.

use crate::support::{Db, admin, assert_invalid_field, email, on_both_backends, spawn_app_with};
use tessera::{Application, Settings};
use tessera_client::pb;

on_both_backends!(list_plans_serves_the_configured_catalog_with_its_store_products,);

const CATALOG: &str = r#"
# A vendor's own catalog.
[[plans]]
code = "family-6"
name = "Family, 6 devices"
seats = 6
term_months = 12

[[plans]]
code = "solo-1"
name = "Solo, 1 device, monthly"
seats = 1
term_days = 31

[[app_store_products]]
product_id = "com.vendor.family_6_yearly"
plan = "family-6"

[[play_products]]
product_id = "com.vendor.family_6"
base_plan_id = "yearly"
plan = "family-6"

[[play_products]]
product_id = "com.vendor.family_6"
base_plan_id = "yearly-intro"
plan = "family-6"
"#;

fn catalog_file(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "tessera-test-catalog-{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, text).expect("writing the test catalog");
    path
}

async fn list_plans_serves_the_configured_catalog_with_its_store_products(db: Db) {
    let path = catalog_file(CATALOG);
    let app = spawn_app_with(db, |settings| settings.catalog = Some(path.clone())).await;
    let _ = std::fs::remove_file(&path);
    let Some(app) = app else {
        return;
    };
    let plans = app
        .subscriptions()
        .list_plans(pb::ListPlansRequest {})
        .await
        .unwrap()
        .into_inner()
        .plans;
    let codes: Vec<&str> = plans.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(codes, ["family-6", "solo-1"]);
    let family = &plans[0];
    assert_eq!(family.seat_limit, 6);
    assert_eq!(family.term_months, 12);
    assert_eq!(family.app_store_product_ids, ["com.vendor.family_6_yearly"]);
    let play: Vec<(&str, &str)> = family
        .play_products
        .iter()
        .map(|p| (p.product_id.as_str(), p.base_plan_id.as_str()))
        .collect();
    assert_eq!(
        play,
        [
            ("com.vendor.family_6", "yearly"),
            ("com.vendor.family_6", "yearly-intro")
        ]
    );
    assert_eq!(plans[1].term_days, 31);
    assert!(plans[1].app_store_product_ids.is_empty());

    let (account, _) = app.sign_up(&email()).await;
    let sold = app.buy(&account, "plans/family-6").await;
    assert_eq!(sold.seat_limit, 6);
    let not_sold = app
        .subscriptions()
        .create_subscription(admin(pb::CreateSubscriptionRequest {
            parent: account,
            plan: "plans/premium-10".to_owned(),
            auto_renew: true,
            request_id: uuid::Uuid::new_v4().to_string(),
        }))
        .await
        .unwrap_err();
    assert_invalid_field(&not_sold, "plan");
    app.stop().await;
}

#[tokio::test]
async fn a_catalog_with_a_mistake_stops_start_up_naming_its_line_and_field() {
    let broken = CATALOG.replacen("plan = \"family-6\"", "plan = \"family-7\"", 1);
    assert_ne!(broken, CATALOG);
    let path = catalog_file(&broken);
    let dir = tempdir();
    let mut settings = Settings::for_database(format!("sqlite:{}/tessera.db", dir.display()));
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.catalog = Some(path.clone());
    let error = Application::build(&settings)
        .await
        .err()
        .expect("the server refuses to start");
    let _ = std::fs::remove_file(&path);
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "{}:17: app_store_products[1].plan: names plan \"family-7\"",
            path.display()
        )),
        "{message}"
    );
    assert!(
        !dir.join("tessera.db").exists(),
        "the catalog is checked before the database is touched"
    );
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
