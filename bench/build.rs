//! Tells the tests whether PostgreSQL is there to run against: `cfg(postgres_tests)` is
//! set when `TEST_DATABASE_URL` is. Without it the PostgreSQL variants of the tests are
//! marked `#[ignore]` ("TEST_DATABASE_URL is unset") and reported as ignored, never as
//! passed; CI sets it and fails on any ignored test.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    if std::env::var_os("TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
