//! The store's bounds: what is evicted, and in which order, when a write takes the store past
//! `max_sessions` or `max_bytes`.

use std::sync::atomic::Ordering;

use session_core::{now_ms, SessionId};

use super::entry::Entry;
use super::{read, write, Inner};

impl Inner {
    fn over_bound(&self) -> bool {
        self.len.load(Ordering::Acquire) > self.max_sessions
            || self.bytes.load(Ordering::Acquire) > self.max_bytes
    }

    /// Evicts until the store is within its bounds again: first the expired records of the
    /// shard `home` (where a record was just written), then its soonest-expiring one, then,
    /// when `home` holds nothing else, the soonest-expiring record of the whole store. `keep`
    /// (the record just written) is never evicted.
    pub(super) fn shrink(&self, home: usize, keep: &SessionId) {
        let now = now_ms();
        while self.over_bound() {
            let mut map = write(&self.shards[home]);
            let expired: Vec<SessionId> = map
                .iter()
                .filter(|entry| entry.is_expired(now) && !entry.is(keep))
                .map(Entry::id)
                .collect();
            if !expired.is_empty() {
                for id in &expired {
                    self.take(&mut map, id);
                }
                continue;
            }
            // `keep` is told apart by its slot, so that the scan reads no allocation.
            let kept = map.get(keep);
            let soonest = map
                .iter()
                .filter(|entry| kept.is_none_or(|kept| !std::ptr::eq(*entry, kept)))
                .min_by_key(|entry| entry.deadline)
                .map(Entry::id);
            if let Some(id) = soonest {
                self.take(&mut map, &id);
                continue;
            }
            drop(map);
            if !self.evict_elsewhere(home) {
                // Only `keep` is left: a single session larger than `max_bytes`.
                break;
            }
        }
    }

    /// Evicts the soonest-expiring record outside the shard `home`; `false` when there is none.
    fn evict_elsewhere(&self, home: usize) -> bool {
        let victim = self
            .shards
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != home)
            .filter_map(|(index, shard)| {
                read(shard)
                    .iter()
                    .min_by_key(|entry| entry.deadline)
                    .map(|entry| (entry.deadline, index, entry.id()))
            })
            .min_by_key(|(deadline, index, _)| (*deadline, *index));
        let Some((_, index, id)) = victim else {
            return false;
        };
        // It may have gone meanwhile; the caller's loop checks the bound again either way.
        self.take(&mut write(&self.shards[index]), &id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::{one_shard, record_expiring_in, record_of_bytes};
    use super::super::{MemoryOptions, MemoryStore};
    use session_core::{Delta, Record, Store};

    #[tokio::test]
    async fn a_full_store_evicts_the_soonest_expiring_session() {
        let store = one_shard(3);
        let late = record_expiring_in(3_600_000);
        let soon = record_expiring_in(60_000);
        let middle = record_expiring_in(600_000);
        for record in [&late, &soon, &middle] {
            store.create(record).await.unwrap();
        }
        assert_eq!(store.len(), 3);

        let newcomer = record_expiring_in(1_800_000);
        store.create(&newcomer).await.unwrap();

        assert_eq!(store.len(), 3);
        assert!(store.load(&soon.id).await.unwrap().is_none());
        for kept in [&late, &middle, &newcomer] {
            assert!(store.load(&kept.id).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn a_full_store_drops_expired_sessions_before_evicting_live_ones() {
        let store = one_shard(2);
        let live = record_expiring_in(60_000);
        let mut expired = record_expiring_in(60_000);
        expired.expires_at = 1;
        store.create(&live).await.unwrap();
        store.create(&expired).await.unwrap();

        store.create(&record_expiring_in(600_000)).await.unwrap();

        assert_eq!(store.len(), 2);
        assert!(store.load(&live.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_bound_holds_across_shards() {
        let store = MemoryStore::new(MemoryOptions {
            max_sessions: 5,
            shards: 64,
            ..MemoryOptions::default()
        });
        let mut records = Vec::new();
        for _ in 0..50 {
            let record = record_expiring_in(60_000 + records.len() as u64);
            store.create(&record).await.unwrap();
            records.push(record);
            assert!(store.len() <= 5);
        }
        assert_eq!(store.len(), 5);
        // The most recent one always survives its own insertion.
        let last = records.last().unwrap();
        assert!(store.load(&last.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_byte_bound_evicts_the_soonest_expiring_sessions() {
        let store = MemoryStore::new(MemoryOptions {
            max_bytes: 10_000,
            shards: 1,
            ..MemoryOptions::default()
        });
        let mut kept = Vec::new();
        for n in 0..30u64 {
            let record = record_of_bytes(1_000, 60_000 + n * 1_000);
            store.create(&record).await.unwrap();
            assert!(store.bytes() <= 10_000, "over the bound: {}", store.bytes());
            kept.push(record);
        }
        // The latest-expiring survive, the soonest went.
        assert!(store.load(&kept[29].id).await.unwrap().is_some());
        assert!(store.load(&kept[0].id).await.unwrap().is_none());
        let held = store.len();
        assert!(
            (8..=9).contains(&held),
            "{held} sessions of ~1.1 KB in 10 KB"
        );
    }

    #[tokio::test]
    async fn growing_a_session_by_update_respects_the_byte_bound() {
        let store = MemoryStore::new(MemoryOptions {
            max_bytes: 8_000,
            shards: 4,
            ..MemoryOptions::default()
        });
        let small: Vec<Record> = (0..5).map(|n| record_of_bytes(100, 60_000 + n)).collect();
        for record in &small {
            store.create(record).await.unwrap();
        }
        let grower = record_of_bytes(10, 3_600_000);
        store.create(&grower).await.unwrap();
        let delta = Delta {
            changed: vec![(
                "big".into(),
                session_core::RawJson::to_json(&"y".repeat(7_000)).unwrap(),
            )],
            expires_at: grower.expires_at,
            absolute_deadline: grower.absolute_deadline,
            ..Delta::default()
        };
        assert!(store.update(&grower.id, &delta).await.unwrap());
        assert!(store.bytes() <= 8_000, "{}", store.bytes());
        assert!(store.load(&grower.id).await.unwrap().is_some());
    }
}
