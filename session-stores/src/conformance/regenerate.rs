//! Regenerate: the stored record moved to a new id, never onto a live one, never bringing back
//! a destroyed one, once however many run at once.

use super::*;

impl Suite {
    /// Regenerate moves the *stored* record (with updates other requests made) plus its own
    /// delta to the new id, and the old id is gone.
    pub async fn regenerate_moves_the_stored_record(&self) {
        let check = "regenerate";
        let mut stored = sample();
        stored.owner = Some("regen-owner".into());
        self.create(&stored, check).await;
        // Another request's update reaches the store first.
        let theirs = self.delta_setting(&stored, "theirs", "1");
        assert!(self.update(&stored.id, &theirs, check).await);
        theirs.apply(&mut stored);

        let new = SessionId::generate();
        let mut ours = self.delta_setting(&stored, "ours", "2");
        ours.removed = vec!["cart".into()];
        ours.expires_at = now_ms() + 2 * HOUR_MS;
        assert!(
            self.regenerate(&stored.id, &new, &ours, check).await,
            "store conformance: {check}: regenerate of a live record must return true"
        );
        let mut expected = stored.clone();
        ours.apply(&mut expected);
        expected.id = new;
        assert_eq!(
            self.load(&new, check).await.as_ref(),
            Some(&expected),
            "store conformance: {check}: the new id must hold the stored record (with the update \
             another request made) plus the regenerating request's delta"
        );
        self.expect_gone(
            &stored.id,
            check,
            "the old id must be gone after regenerate",
        )
        .await;
        assert!(
            !self.update(&stored.id, &theirs, check).await,
            "store conformance: {check}: an update of the old id after regenerate must be false"
        );
        let listed = self.owned("regen-owner", check).await;
        assert_eq!(
            listed.iter().map(|s| s.handle.clone()).collect::<Vec<_>>(),
            vec![new.storage_key()],
            "store conformance: {check}: the owner index must list the new id, not the old one"
        );
        if let Err(error) = self.store.delete_owner("regen-owner", None).await {
            panic!("store conformance: {check}: delete_owner failed: {error}");
        }
    }

    /// Regenerating a destroyed (or expired) record is `false` and creates nothing: a logout
    /// is never undone by a slower request.
    pub async fn regenerate_of_a_gone_record_moves_nothing(&self) {
        let check = "regenerate of a gone record";
        let record = sample();
        self.create(&record, check).await;
        self.delete(&record.id, check).await;
        let new = SessionId::generate();
        let delta = self.delta_setting(&record, "k", "1");
        let moved = self.regenerate(&record.id, &new, &delta, check).await;
        self.expect_no_write(moved, &new, check, "regenerate of a deleted record")
            .await;

        let expired = self.create_expired(check).await;
        let new = SessionId::generate();
        let moved = self.regenerate(&expired.id, &new, &delta, check).await;
        self.expect_no_write(moved, &new, check, "regenerate of an expired record")
            .await;
    }

    /// Regenerating onto an id that holds a live record is `AlreadyExists` and changes nothing.
    pub async fn regenerate_onto_a_live_id_is_refused(&self) {
        let check = "regenerate onto a live id";
        let (old, taken) = (sample(), sample());
        self.create(&old, check).await;
        self.create(&taken, check).await;
        let delta = self.delta_setting(&old, "k", "1");
        match self.store.regenerate(&old.id, &taken.id, &delta).await {
            Err(StoreError::AlreadyExists) => {}
            other => panic!(
                "store conformance: {check}: regenerate onto a live id must be \
                 Err(StoreError::AlreadyExists), got {other:?}"
            ),
        }
        assert_eq!(self.load(&old.id, check).await.as_ref(), Some(&old));
        assert_eq!(self.load(&taken.id, check).await.as_ref(), Some(&taken));
    }

    /// Of ten concurrent regenerates of one session, exactly one moves it: one live session.
    pub async fn concurrent_regenerates_leave_one_session(&self) {
        let check = "concurrent regenerates";
        let record = sample();
        self.create(&record, check).await;
        let tasks: Vec<_> = (0..10)
            .map(|n| {
                let store = Arc::clone(&self.store);
                let old = record.id;
                let delta = self.delta_setting(&record, "winner", &n.to_string());
                tokio::spawn(async move {
                    let new = SessionId::generate();
                    (new, store.regenerate(&old, &new, &delta).await)
                })
            })
            .collect();
        let mut moved = Vec::new();
        let mut new_ids = Vec::new();
        for task in tasks {
            match task.await {
                Ok((new, Ok(true))) => {
                    moved.push(new);
                    new_ids.push(new);
                }
                Ok((new, Ok(false))) => new_ids.push(new),
                Ok((_, Err(error))) => {
                    panic!("store conformance: {check}: regenerate failed: {error}")
                }
                Err(error) => panic!("store conformance: {check}: a task panicked: {error}"),
            }
        }
        assert_eq!(
            moved.len(),
            1,
            "store conformance: {check}: exactly one of ten concurrent regenerates must move the \
             session, {} did",
            moved.len()
        );
        let mut live = 0;
        for id in &new_ids {
            if self.load(id, check).await.is_some() {
                live += 1;
            }
        }
        assert_eq!(
            live, 1,
            "store conformance: {check}: exactly one new id must hold the session"
        );
        assert_eq!(self.load(&record.id, check).await, None);
    }
}
