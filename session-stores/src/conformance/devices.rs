//! The device layer's store operations: device records listed with an owner's sessions, ending
//! one session of an owner, and ending all of them but one.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use session_core::{Device, DEVICE_KEY};

use super::*;

impl Suite {
    /// A fresh owner name, so checks never see each other's sessions.
    fn fresh_owner(prefix: &str) -> String {
        format!("{prefix}-{}", &SessionId::generate().storage_key()[..8])
    }

    /// Sessions of one owner, regenerated over and over by one task while another logs the
    /// owner out everywhere but one session: afterwards only that session is left. Each
    /// regenerate moves a session to an id a snapshot of the owner's ids would not hold.
    ///
    /// A stress check that [`run`](Self::run) leaves out: the store's tests choose how many
    /// `sessions` and `rounds` it is worth, and give it a store of its own, since it counts the
    /// store's sessions. Needs a multi-threaded Tokio runtime.
    pub async fn delete_owner_outruns_regenerates(&self, sessions: usize, rounds: usize) {
        let check = "delete_owner racing regenerates";
        let owner = "alice";
        for round in 0..rounds {
            let kept = crate::fixtures::owned_by(owner);
            self.create(&kept, check).await;
            let mut ids = Vec::with_capacity(sessions);
            for _ in 0..sessions {
                let record = crate::fixtures::owned_by(owner);
                self.create(&record, check).await;
                ids.push((record.id, crate::fixtures::keeping(&record)));
            }
            let stop = Arc::new(AtomicBool::new(false));
            let moves = Arc::new(AtomicUsize::new(0));
            let regenerating = tokio::spawn({
                let (suite, stop, moves) = (self.clone(), Arc::clone(&stop), Arc::clone(&moves));
                async move {
                    while !stop.load(Ordering::Acquire) {
                        for (id, delta) in &mut ids {
                            let new = SessionId::generate();
                            if suite.regenerate(id, &new, delta, check).await {
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
            self.delete_owner(owner, Some(&kept_key), check).await;
            stop.store(true, Ordering::Release);
            if let Err(error) = regenerating.await {
                panic!("store conformance: {check}: the regenerating task failed: {error}");
            }
            let left = self.owned(owner, check).await;
            let escaped = left.iter().filter(|s| s.handle != kept_key).count();
            assert_eq!(
                escaped, 0,
                "store conformance: {check}: round {round}: sessions regenerated during the \
                 revocation outlived it"
            );
            assert_eq!(
                left.len(),
                1,
                "store conformance: {check}: round {round}: the kept session must stay"
            );
            assert_eq!(
                self.count(check).await,
                1,
                "store conformance: {check}: round {round}"
            );
            self.delete(&kept.id, check).await;
        }
    }

    /// A live sample record bound to `owner`.
    fn owned_by(owner: &str) -> Record {
        let mut record = sample();
        record.owner = Some(owner.to_string());
        record
    }

    async fn delete_owned(&self, owner: &str, key: &str, check: &str) -> bool {
        match self.store.delete_owned(owner, key).await {
            Ok(ended) => ended,
            Err(error) => panic!("store conformance: {check}: delete_owned failed: {error}"),
        }
    }

    async fn delete_owner(&self, owner: &str, keep: Option<&str>, check: &str) -> u64 {
        match self.store.delete_owner(owner, keep).await {
            Ok(ended) => ended,
            Err(error) => panic!("store conformance: {check}: delete_owner failed: {error}"),
        }
    }

    /// A session's device record (its value under [`DEVICE_KEY`]) comes back with the owner's
    /// listing, follows an update that moves it, and a regenerate.
    pub async fn device_records_are_listed_with_their_sessions(&self) {
        let check = "device records";
        let owner = Self::fresh_owner("devices");
        let mut record = Self::owned_by(&owner);
        let device = Device {
            logged_in_at: record.created_at,
            last_seen_at: record.created_at,
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) \"quoted\" ünïcode".into()),
            ip: Some("2001:db8::1".into()),
        };
        record.data.insert(DEVICE_KEY.into(), device.to_value());
        self.create(&record, check).await;
        let listed = self.owned(&owner, check).await;
        assert_eq!(
            listed,
            vec![OwnerSession::of(record.id.storage_key(), &record)],
            "store conformance: {check}: the listing must carry the session's times and its \
             device record"
        );
        assert_eq!(
            listed.first().and_then(|session| session.device.as_ref()),
            Some(&device),
            "store conformance: {check}: the device record must come back as stored"
        );

        // The manager moves `last_seen_at` with a delta that changes the device key.
        let seen = Device {
            last_seen_at: device.last_seen_at + 60_000,
            ..device.clone()
        };
        let mut touch = self.delta_setting(&record, "k", "1");
        touch.changed.push((DEVICE_KEY.into(), seen.to_value()));
        assert!(self.update(&record.id, &touch, check).await);
        let moved = SessionId::generate();
        assert!(self.regenerate(&record.id, &moved, &touch, check).await);
        let listed = self.owned(&owner, check).await;
        assert_eq!(
            listed
                .iter()
                .map(|session| (session.handle.clone(), session.device.clone()))
                .collect::<Vec<_>>(),
            vec![(moved.storage_key(), Some(seen))],
            "store conformance: {check}: an update of the device record, then a regenerate, \
             must list the moved session with the updated record"
        );
        self.delete_owner(&owner, None, check).await;
    }

    /// Asserts that `delete_owned` of `handle` for `owner` ends nothing; `why` says why not.
    async fn ends_nothing(&self, owner: &str, handle: &str, check: &str, why: &str) {
        assert!(
            !self.delete_owned(owner, handle, check).await,
            "store conformance: {check}: {why}"
        );
    }

    /// `delete_owned` ends the owner's live session under the key, and nothing for another
    /// owner's key, a made-up key, or an expired session.
    pub async fn delete_owned_ends_only_the_owners_live_session(&self) {
        let check = "delete_owned";
        let owner = Self::fresh_owner("owned");
        let other = format!("{owner}-other");
        let mine = Self::owned_by(&owner);
        let theirs = Self::owned_by(&other);
        let mut expired = Self::owned_by(&owner);
        expired.expires_at = now_ms().saturating_sub(1_000);
        for record in [&mine, &theirs, &expired] {
            self.create(record, check).await;
        }

        self.ends_nothing(
            &owner,
            &theirs.id.storage_key(),
            check,
            "another owner's session must not be ended",
        )
        .await;
        assert_eq!(
            self.load(&theirs.id, check).await.as_ref(),
            Some(&theirs),
            "store conformance: {check}: another owner's session must not be ended"
        );
        for made_up in [SessionId::generate().storage_key(), "not-a-key".to_string()] {
            self.ends_nothing(&owner, &made_up, check, "a made-up key must end nothing")
                .await;
        }
        self.ends_nothing(
            &owner,
            &expired.id.storage_key(),
            check,
            "an expired session is no live session to end",
        )
        .await;
        self.ends_nothing(
            &owner,
            &mine.id.to_string(),
            check,
            "a session id is no handle (handles are storage keys)",
        )
        .await;
        assert!(self.load(&mine.id, check).await.is_some());

        assert!(
            self.delete_owned(&owner, &mine.id.storage_key(), check)
                .await,
            "store conformance: {check}: the owner's live session must be ended"
        );
        self.expect_gone(&mine.id, check, "an ended session must not load")
            .await;
        assert!(
            self.owned(&owner, check).await.is_empty(),
            "store conformance: {check}: an ended session must leave the owner's listing"
        );
        self.ends_nothing(
            &owner,
            &mine.id.storage_key(),
            check,
            "ending a session twice must say false the second time",
        )
        .await;
        self.delete_owner(&other, None, check).await;
        self.delete_owner(&owner, None, check).await;
    }

    /// `delete_owner` with a session to keep ends every other session of the owner, and
    /// exactly that one stays.
    pub async fn delete_owner_spares_the_kept_session(&self) {
        let check = "delete_owner with keep";
        let owner = Self::fresh_owner("keep");
        let other = format!("{owner}-other");
        let (first, second, kept) = (
            Self::owned_by(&owner),
            Self::owned_by(&owner),
            Self::owned_by(&owner),
        );
        let theirs = Self::owned_by(&other);
        for record in [&first, &second, &kept, &theirs] {
            self.create(record, check).await;
        }
        let keep = kept.id.storage_key();
        assert_eq!(
            self.delete_owner(&owner, Some(&keep), check).await,
            2,
            "store conformance: {check}: must end and count the owner's other live sessions"
        );
        for gone in [&first, &second] {
            self.expect_gone(&gone.id, check, "the owner's other sessions must not load")
                .await;
        }
        assert_eq!(
            self.load(&kept.id, check).await.as_ref(),
            Some(&kept),
            "store conformance: {check}: the kept session must stay, unchanged"
        );
        assert_eq!(
            self.owned(&owner, check)
                .await
                .into_iter()
                .map(|session| session.handle)
                .collect::<Vec<_>>(),
            vec![keep.clone()],
            "store conformance: {check}: the kept session must be all the owner has left"
        );
        assert!(
            self.load(&theirs.id, check).await.is_some(),
            "store conformance: {check}: another owner's session must stay"
        );
        // Keeping a key that is not the owner's keeps nothing of the owner's.
        assert_eq!(
            self.delete_owner(&owner, Some(&theirs.id.storage_key()), check)
                .await,
            1,
            "store conformance: {check}: a kept key that is not the owner's must spare none of \
             the owner's sessions, and end no one else's"
        );
        assert!(self.load(&theirs.id, check).await.is_some());
        self.delete_owner(&other, None, check).await;
    }
}
