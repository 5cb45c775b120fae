//! The demos' Redis Cluster configuration on a real cluster. Run through `bash scripts/test.sh`,
//! which starts a private Redis Cluster and sets `REDIS_CLUSTER_URLS`.

mod common;

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
    let example = include_str!("../../config/redis-cluster.toml");
    common::writes_a_session(&common::naming_urls(example, &urls)).await;
}
