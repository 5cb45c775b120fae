//! The demos' Redis Cluster configuration on a real cluster. Run through `bash scripts/test.sh`,
//! which starts a private Redis Cluster and sets `REDIS_CLUSTER_URLS`.

/// The demos' cluster configuration builds a working store once its seeds point at the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_cluster_configuration_runs_on_the_cluster() {
    let Ok(urls) = std::env::var("REDIS_CLUSTER_URLS") else {
        eprintln!(
            "skipped: REDIS_CLUSTER_URLS is not set; run the tests with `bash scripts/test.sh`, \
             which starts a private Redis Cluster for them"
        );
        return;
    };
    let urls: Vec<&str> = urls.split(',').collect();
    let example = include_str!("../../config/redis-cluster.toml");
    let seeds = urls
        .iter()
        .map(|url| format!("{url:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text: String = example
        .lines()
        .map(|line| match line.find("urls = [") {
            Some(start) => {
                let end = line[start..]
                    .find(']')
                    .map_or(line.len(), |end| start + end + 1);
                format!("{}urls = [{seeds}]{}", &line[..start], &line[end..])
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains(&seeds),
        "the example lists its seeds as `urls = [...]`"
    );
    let headers = session_stores::testing::configured_session_write(&text)
        .await
        .unwrap();
    assert!(headers[0].value().starts_with("app_session="));
}
