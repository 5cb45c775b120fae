//! The demos' Redis Sentinel configuration on a real Sentinel setup. Run through `bash
//! scripts/test.sh`, which starts a private primary, replica and sentinels and sets
//! `REDIS_SENTINEL_URLS`, `REDIS_SENTINEL_MASTER` and `REDIS_SENTINEL_PRIMARY_PASSWORD`.

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
    let example = include_str!("../../config/redis-sentinel.toml");
    let sentinels = urls
        .split(',')
        .map(|url| format!("{url:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text: String = example
        .lines()
        .map(
            |line| match (line.find("master = \"mymaster\""), line.find("urls = [")) {
                (Some(name), Some(start)) => {
                    let end = line[start..]
                        .find(']')
                        .map_or(line.len(), |end| start + end + 1);
                    format!(
                        "{}master = {master:?}, primary_password = {password:?}{}urls = \
                     [{sentinels}]{}",
                        &line[..name],
                        &line[name + "master = \"mymaster\"".len()..start],
                        &line[end..]
                    )
                }
                _ => line.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains(&sentinels),
        "the example names its master and sentinels as `master = \"mymaster\", urls = [...]`"
    );
    let headers = session_stores::testing::configured_session_write(&text)
        .await
        .unwrap();
    assert!(headers[0].value().starts_with("app_session="));
}
