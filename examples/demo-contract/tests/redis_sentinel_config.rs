//! The demos' Redis Sentinel configuration on a real Sentinel setup. Run through `bash
//! scripts/test.sh`, which starts a private primary, replica and sentinels and sets
//! `REDIS_SENTINEL_URLS`, `REDIS_SENTINEL_MASTER` and `REDIS_SENTINEL_PRIMARY_PASSWORD`.

mod common;

/// The demos' Sentinel configuration builds a working store once it names the setup's
/// sentinels, primary and password: configuration alone, no code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_sentinel_configuration_runs_on_sentinel() {
    let (Ok(urls), Ok(master), Ok(password)) = (
        std::env::var("REDIS_SENTINEL_URLS"),
        std::env::var("REDIS_SENTINEL_MASTER"),
        std::env::var("REDIS_SENTINEL_PRIMARY_PASSWORD"),
    ) else {
        eprintln!(
            "skipped: REDIS_SENTINEL_URLS is not set; run the tests with `bash scripts/test.sh`, \
             which starts a private Redis Sentinel setup for them"
        );
        return;
    };
    let named = format!("master = {master:?}, primary_password = {password:?}");
    let example =
        include_str!("../../config/redis-sentinel.toml").replace("master = \"mymaster\"", &named);
    assert!(
        example.contains(&named),
        "the example names its master as `master = \"mymaster\"`"
    );
    common::writes_a_session(&common::naming_urls(&example, &urls)).await;
}
