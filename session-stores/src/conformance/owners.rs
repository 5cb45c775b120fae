//! The owner index: an owner's live sessions, following every write.

use super::*;

impl Suite {
    /// The owner index lists an owner's live sessions and follows create, update (rebinding),
    /// regenerate, delete and `delete_owner`.
    pub async fn owner_index_follows_every_write(&self) {
        let check = "owner index";
        let owner = format!("owner-{}", &SessionId::generate().storage_key()[..8]);
        let other = format!("{owner}-other");
        let owned = |n: usize| {
            let mut record = sample();
            record.owner = Some(owner.clone());
            record.data.insert("n".into(), raw(&n.to_string()));
            record
        };
        let (first, second) = (owned(1), owned(2));
        let mut theirs = sample();
        theirs.owner = Some(other.clone());
        let unbound = sample();
        let mut expired = owned(3);
        expired.expires_at = now_ms().saturating_sub(1_000);
        for record in [&first, &second, &theirs, &unbound, &expired] {
            self.create(record, check).await;
        }
        let keys = |sessions: &[OwnerSession]| {
            sessions
                .iter()
                .map(|s| s.handle.clone())
                .collect::<Vec<_>>()
        };
        let sorted = |mut ids: Vec<&SessionId>| {
            let mut keys: Vec<String> = ids.drain(..).map(SessionId::storage_key).collect();
            keys.sort();
            keys
        };
        let listed = self.owned(&owner, check).await;
        assert_eq!(
            keys(&listed),
            sorted(vec![&first.id, &second.id]),
            "store conformance: {check}: an owner's live sessions must be listed by storage key \
             (the expired one and other owners' not)"
        );
        let entry = listed
            .iter()
            .find(|s| s.handle == first.id.storage_key())
            .cloned();
        assert_eq!(
            entry,
            Some(OwnerSession::of(first.id.storage_key(), &first)),
            "store conformance: {check}: a listed session must carry its created and expiry times"
        );
        for session in &listed {
            assert!(
                !session.handle.contains(&first.id.to_string())
                    && !session.handle.contains(&second.id.to_string()),
                "store conformance: {check}: a listing must never hold a session id"
            );
        }

        // Binding the unbound session by update, unbinding the first.
        let mut bind = self.delta_setting(&unbound, "k", "1");
        bind.owner = Some(Some(owner.clone()));
        assert!(self.update(&unbound.id, &bind, check).await);
        let mut unbind = self.delta_setting(&first, "k", "1");
        unbind.owner = Some(None);
        assert!(self.update(&first.id, &unbind, check).await);
        // A delta that does not rebind keeps the owner.
        let keep = self.delta_setting(&second, "k", "2");
        assert!(self.update(&second.id, &keep, check).await);
        assert_eq!(
            keys(&self.owned(&owner, check).await),
            sorted(vec![&second.id, &unbound.id]),
            "store conformance: {check}: updates that rebind must move the session in the index, \
             and updates that do not must leave it"
        );

        // Regenerate keeps the binding under the new id.
        let moved = SessionId::generate();
        assert!(self.regenerate(&second.id, &moved, &keep, check).await);
        assert_eq!(
            keys(&self.owned(&owner, check).await),
            sorted(vec![&moved, &unbound.id]),
            "store conformance: {check}: regenerate must move the index entry to the new id"
        );
        // Delete removes it from the index.
        self.delete(&unbound.id, check).await;
        assert_eq!(
            keys(&self.owned(&owner, check).await),
            sorted(vec![&moved]),
            "store conformance: {check}: delete must remove the session from the index"
        );

        // Log out everywhere.
        let again = owned(4);
        self.create(&again, check).await;
        let removed = match self.store.delete_owner(&owner, None).await {
            Ok(removed) => removed,
            Err(error) => panic!("store conformance: {check}: delete_owner failed: {error}"),
        };
        assert_eq!(
            removed, 2,
            "store conformance: {check}: delete_owner must remove and count both live sessions"
        );
        for id in [&moved, &again.id] {
            assert_eq!(
                self.load(id, check).await,
                None,
                "store conformance: {check}: a session of a deleted owner must not load"
            );
        }
        assert!(self.owned(&owner, check).await.is_empty());
        assert_eq!(
            self.load(&theirs.id, check).await.as_ref(),
            Some(&theirs),
            "store conformance: {check}: delete_owner must leave other owners' sessions"
        );
        assert!(
            self.load(&first.id, check).await.is_some(),
            "store conformance: {check}: delete_owner must leave sessions that were unbound"
        );
    }
}
