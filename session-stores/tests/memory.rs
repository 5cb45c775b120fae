//! The memory store against the conformance suite.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use session_core::{now_ms, Delta, Expiry, Record, SessionId, Store};
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

/// Sessions of one owner, regenerated over and over by one task while another logs the owner out
/// everywhere but one session: afterwards only that session is left. Each regenerate moves a
/// session to an id a snapshot of the owner's ids would not hold.
async fn revoking_while_regenerating(store: Arc<dyn Store>, sessions: usize, rounds: usize) {
    let owner = "alice";
    for round in 0..rounds {
        let kept = owned_record(owner);
        store.create(&kept).await.unwrap();
        let mut ids = Vec::with_capacity(sessions);
        for _ in 0..sessions {
            let record = owned_record(owner);
            store.create(&record).await.unwrap();
            ids.push((record.id, keeping(&record)));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let moves = Arc::new(AtomicUsize::new(0));
        let regenerating = tokio::spawn({
            let (store, stop, moves) = (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&moves));
            async move {
                while !stop.load(Ordering::Acquire) {
                    for (id, delta) in &mut ids {
                        let new = SessionId::generate();
                        if store.regenerate(id, &new, delta).await.unwrap() {
                            *id = new;
                            moves.fetch_add(1, Ordering::Release);
                        }
                    }
                    tokio::task::yield_now().await;
                }
            }
        });
        while moves.load(Ordering::Acquire) < sessions {
            tokio::task::yield_now().await;
        }
        let kept_key = kept.id.storage_key();
        store.delete_owner(owner, Some(&kept_key)).await.unwrap();
        stop.store(true, Ordering::Release);
        regenerating.await.unwrap();
        let left = store.owner_sessions(owner).await.unwrap();
        let escaped = left.iter().filter(|s| s.handle != kept_key).count();
        assert_eq!(
            escaped, 0,
            "round {round}: sessions regenerated during the revocation outlived it"
        );
        assert_eq!(left.len(), 1, "round {round}: the kept session must stay");
        assert_eq!(store.count().await.unwrap(), 1, "round {round}");
        store.delete(&kept.id).await.unwrap();
    }
}

fn owned_record(owner: &str) -> Record {
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
    record.owner = Some(owner.to_string());
    record
}

/// A delta that changes nothing but keeps the record's deadlines.
fn keeping(record: &Record) -> Delta {
    Delta {
        expires_at: record.expires_at,
        absolute_deadline: record.absolute_deadline,
        ..Delta::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regenerate_during_delete_owner_does_not_carry_a_session_out_of_reach() {
    revoking_while_regenerating(Arc::new(MemoryStore::default()), 2_000, 20).await;
}
