//! What operators and the cleanup loop call: `count`, `exists`, cleanup, and records that no
//! longer decode.

use super::*;

impl Suite {
    /// `count` and `exists` see live records only.
    pub async fn count_and_exists_see_live_records_only(&self) {
        let check = "count and exists";
        let before = self.count(check).await;
        let live: Vec<Record> = (0..3).map(|_| sample()).collect();
        let mut expired = sample();
        expired.expires_at = now_ms().saturating_sub(1_000);
        for record in live.iter().chain([&expired]) {
            self.create(record, check).await;
        }
        assert_eq!(
            self.count(check).await,
            before + 3,
            "store conformance: {check}: three live and one expired record must add three to count"
        );
        assert!(self.exists(&live[0].id, check).await);
        for (id, what) in [
            (expired.id, "an expired"),
            (SessionId::generate(), "an unknown"),
        ] {
            assert!(
                !self.exists(&id, check).await,
                "store conformance: {check}: exists must be false for {what} record"
            );
        }
        self.delete(&live[0].id, check).await;
        assert!(!self.exists(&live[0].id, check).await);
        assert_eq!(self.count(check).await, before + 2);
    }

    /// Cleanup counts exactly the expired records it removed and keeps live ones.
    pub async fn cleanup_counts_what_it_removed(&self) {
        let check = "cleanup";
        // Earlier checks left expired records behind; start from none.
        self.cleanup(check).await;

        let now = now_ms();
        let live: Vec<Record> = (0..2).map(|_| sample()).collect();
        let mut expired: Vec<Record> = (0..3).map(|_| sample()).collect();
        expired[0].expires_at = now.saturating_sub(1_000);
        expired[1].expires_at = now.saturating_sub(60_000);
        expired[2].absolute_deadline = Some(now.saturating_sub(1_000));
        for record in live.iter().chain(&expired) {
            self.create(record, check).await;
        }

        let removed = self.cleanup(check).await;
        let expected = if self.backend_expires_records || self.store.cleanup().is_none() {
            0
        } else {
            3
        };
        assert_eq!(
            removed, expected,
            "store conformance: {check}: with 3 expired and 2 live records, cleanup must return \
             {expected}"
        );
        assert_eq!(
            self.cleanup(check).await,
            0,
            "store conformance: {check}: a second cleanup must find nothing"
        );
        for record in &live {
            assert_eq!(
                self.load(&record.id, check).await.as_ref(),
                Some(record),
                "store conformance: {check}: cleanup must keep live records"
            );
        }
    }

    /// A record that no longer decodes is `Corrupt` (not a backend outage), can be deleted, and
    /// is removed by cleanup. Needs [`with_corrupter`](Self::with_corrupter).
    pub async fn corrupt_records_are_reported_and_removable(&self) {
        let check = "corrupt records";
        let Some(corrupt) = self.corrupter.clone() else {
            return;
        };
        let record = sample();
        self.create(&record, check).await;
        corrupt(record.id).await;
        match self.store.load(&record.id).await {
            Err(StoreError::Corrupt(_)) => {}
            other => panic!(
                "store conformance: {check}: loading an undecodable record must be \
                 Err(StoreError::Corrupt), got {other:?}"
            ),
        }
        if let Err(error) = self.store.delete(&record.id).await {
            panic!("store conformance: {check}: deleting a corrupt record must succeed: {error}");
        }
        assert_eq!(self.load(&record.id, check).await, None);

        if self.store.cleanup().is_some() {
            let record = sample();
            self.create(&record, check).await;
            corrupt(record.id).await;
            self.cleanup(check).await;
            self.expect_gone(
                &record.id,
                check,
                "cleanup must remove records that do not decode",
            )
            .await;
        }
    }
}
