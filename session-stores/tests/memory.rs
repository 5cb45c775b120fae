//! The memory store against the conformance suite.

use std::sync::Arc;

use session_stores::conformance::Suite;
use session_stores::memory::{MemoryOptions, MemoryStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_conformance_suite() {
    session_stores::conformance::run(Arc::new(MemoryStore::new(MemoryOptions::default()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_with_one_shard_passes_the_conformance_suite() {
    let options = MemoryOptions {
        shards: 1,
        ..MemoryOptions::default()
    };
    session_stores::conformance::run(Arc::new(MemoryStore::new(options))).await;
}

#[tokio::test(flavor = "current_thread")]
async fn memory_store_passes_the_conformance_suite_on_one_thread() {
    session_stores::conformance::run(Arc::new(MemoryStore::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regenerate_during_delete_owner_does_not_carry_a_session_out_of_reach() {
    Suite::new(Arc::new(MemoryStore::default()))
        .delete_owner_outruns_regenerates(2_000, 20)
        .await;
}
