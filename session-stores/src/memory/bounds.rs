//! The store's bounds: what is evicted, and in which order, when a write takes the store past
//! `max_sessions` or `max_bytes`.

use std::sync::atomic::Ordering;

use session_core::{now_ms, SessionId};

use super::entry::{Entry, OWNED};
use super::{read, write, Inner};

impl Inner {
    fn over_bound(&self) -> bool {
        self.len.load(Ordering::Acquire) > self.max_sessions
            || self.bytes.load(Ordering::Acquire) > self.max_bytes
    }

    /// Evicts until the store is within its bounds again, in this order:
    ///
    /// 1. the expired sessions of the shard `home` (where a session was just written);
    /// 2. anonymous sessions (bound to no owner), the soonest-expiring of `home` first, else the
    ///    soonest-expiring of the whole store;
    /// 3. sessions bound to an owner, the soonest-expiring of the whole store (a scan of every
    ///    shard, which only a store holding nothing else pays); but only for a write of a
    ///    session bound to an owner. A write of an anonymous
    ///    session never evicts a session bound to an owner: when nothing else is left, the
    ///    anonymous session just written is the one dropped (its client then has a new, empty
    ///    session, as after any eviction).
    ///
    /// `keep` (the session just written) is otherwise never evicted.
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
            let keep_is_owned = kept.is_some_and(Entry::is_owned);
            let lowest = map
                .iter()
                .filter(|entry| kept.is_none_or(|kept| !std::ptr::eq(*entry, kept)))
                .min_by_key(|entry| entry.rank())
                .map(|entry| (entry.rank(), home, entry.id()));
            if let Some((rank, _, id)) = lowest {
                if rank & OWNED == 0 {
                    self.take(&mut map, &id);
                    continue;
                }
            }
            drop(map);
            if let Some(victim) = self.lowest_elsewhere(home, now, false) {
                self.evict(victim);
                continue;
            }
            // Only sessions bound to an owner are left, besides `keep`.
            if !keep_is_owned {
                self.take(&mut write(&self.shards[home]), keep);
                tracing::debug!("memory store full of owned sessions: dropped an anonymous one");
                break;
            }
            let elsewhere = self.lowest_elsewhere(home, now, true);
            match lowest
                .into_iter()
                .chain(elsewhere)
                .min_by_key(|(order, shard, _)| (*order, *shard))
            {
                Some(victim) => self.evict(victim),
                // Only `keep` is left: a single session larger than `max_bytes`.
                None => break,
            }
        }
    }

    /// Removes the session a scan chose, if it is still there (it may have gone meanwhile; the
    /// caller's loop checks the bound again either way).
    fn evict(&self, (_, shard, id): (u64, usize, SessionId)) {
        self.take(&mut write(&self.shards[shard]), &id);
    }

    /// The session to evict outside the shard `home`, as (order, shard, id): an expired one
    /// first (order 0), then the lowest ranked, among anonymous ones only unless `owned_too`.
    fn lowest_elsewhere(
        &self,
        home: usize,
        now: u64,
        owned_too: bool,
    ) -> Option<(u64, usize, SessionId)> {
        self.shards
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != home)
            .filter_map(|(index, shard)| {
                let map = read(shard);
                if !owned_too && map.anonymous() == 0 {
                    return None;
                }
                map.iter()
                    .filter(|entry| owned_too || !entry.is_owned())
                    .map(|entry| {
                        let order = if entry.is_expired(now) {
                            0
                        } else {
                            entry.rank()
                        };
                        (order, index, entry.id())
                    })
                    .min_by_key(|(order, _, _)| *order)
            })
            .min_by_key(|(order, index, _)| (*order, *index))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::{
        one_shard, one_shard_holding, record_expiring_in, record_of_bytes, store_with,
    };
    use session_core::{Delta, Record, Store};

    #[tokio::test]
    async fn a_full_store_evicts_the_soonest_expiring_session() {
        let (store, [late, soon, middle]) =
            one_shard_holding(3, [3_600_000, 60_000, 600_000]).await;
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
        let store = store_with(|o| (o.max_sessions, o.shards) = (5, 64));
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
        let store = store_with(|o| (o.max_bytes, o.shards) = (10_000, 1));
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
        let store = store_with(|o| (o.max_bytes, o.shards) = (8_000, 4));
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

    fn owned_by(owner: &str, expires_in: u64) -> Record {
        let mut record = record_expiring_in(expires_in);
        record.owner = Some(owner.into());
        record
    }

    #[tokio::test]
    async fn anonymous_sessions_go_before_owned_ones_across_the_default_shards() {
        let store = store_with(|o| o.max_sessions = 100);
        // Users active a moment ago, expiring sooner than any anonymous session after them.
        let users: Vec<Record> = (0..50)
            .map(|n| owned_by(&format!("user{n}"), 60_000 + n))
            .collect();
        for user in &users {
            store.create(user).await.unwrap();
        }
        for n in 0..2_000 {
            store
                .create(&record_expiring_in(3_600_000 + n))
                .await
                .unwrap();
            assert!(store.len() <= 100);
        }
        for user in &users {
            assert!(store.exists(&user.id).await.unwrap(), "a user was evicted");
        }
    }

    #[tokio::test]
    async fn an_anonymous_write_into_a_store_of_owned_sessions_evicts_itself() {
        let store = store_with(|o| o.max_sessions = 10);
        let users: Vec<Record> = (0..10)
            .map(|n| owned_by(&format!("user{n}"), 60_000))
            .collect();
        for user in &users {
            store.create(user).await.unwrap();
        }
        let anonymous = record_expiring_in(3_600_000);
        store.create(&anonymous).await.unwrap();
        assert!(!store.exists(&anonymous.id).await.unwrap());
        for user in &users {
            assert!(store.exists(&user.id).await.unwrap(), "a user was evicted");
        }

        // A login evicts the soonest-expiring owned session of the whole store.
        let login = owned_by("late", 600_000);
        store.create(&login).await.unwrap();
        assert!(store.exists(&login.id).await.unwrap());
        assert_eq!(store.len(), 10);
    }

    #[tokio::test]
    async fn an_owned_session_outlives_anonymous_ones_after_an_update_binds_it() {
        let store = one_shard(3);
        let binding = record_expiring_in(60_000);
        store.create(&binding).await.unwrap();
        let login = Delta {
            owner: Some(Some("alice".into())),
            expires_at: binding.expires_at,
            ..Delta::default()
        };
        assert!(store.update(&binding.id, &login).await.unwrap());
        for n in 0..10 {
            store
                .create(&record_expiring_in(3_600_000 + n))
                .await
                .unwrap();
        }
        assert!(store.exists(&binding.id).await.unwrap());
        assert_eq!(store.len(), 3);
    }
}
