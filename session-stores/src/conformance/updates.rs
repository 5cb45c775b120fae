//! Updates: deltas applied atomically, nothing written for a missing or expired record.

use super::*;

impl Suite {
    /// A delta sets and removes keys, moves deadlines and bumps the version.
    pub async fn update_applies_deltas(&self) {
        let check = "update";
        let mut expected = sample();
        self.create(&expected, check).await;
        let now = now_ms();
        let delta = Delta {
            changed: vec![set("user", r#""bob""#), set("new", r#"[1,2,3]"#)],
            removed: vec!["cart".into(), "absent".into()],
            expires_at: now + 2 * HOUR_MS,
            absolute_deadline: Some(now + 48 * HOUR_MS),
            expiry: Some(Expiry::persistent(std::time::Duration::from_secs(86_400))),
            owner: None,
        };
        assert!(
            self.update(&expected.id, &delta, check).await,
            "store conformance: {check}: update of a stored record must return true"
        );
        delta.apply(&mut expected);
        assert_eq!(
            self.load(&expected.id, check).await.as_ref(),
            Some(&expected),
            "store conformance: {check}: the loaded record must equal the delta applied to the \
             stored one (keys set and removed, deadlines and expiry moved, version + 1)"
        );

        let clear = Delta {
            expires_at: now + HOUR_MS,
            absolute_deadline: None,
            expiry: None,
            ..Delta::default()
        };
        assert!(self.update(&expected.id, &clear, check).await);
        clear.apply(&mut expected);
        assert_eq!(
            self.load(&expected.id, check).await.as_ref(),
            Some(&expected),
            "store conformance: {check}: a delta must be able to clear the absolute deadline and \
             the expiry override"
        );
    }

    /// Updating nothing is `false` and writes nothing.
    pub async fn update_of_a_missing_or_expired_record_is_false(&self) {
        let check = "update of a missing record";
        let missing = SessionId::generate();
        let delta = Delta {
            changed: vec![set("k", "1")],
            expires_at: now_ms() + HOUR_MS,
            ..Delta::default()
        };
        let updated = self.update(&missing, &delta, check).await;
        self.expect_no_write(updated, &missing, check, "update of an unknown id")
            .await;

        let expired = self.create_expired(check).await;
        let updated = self.update(&expired.id, &delta, check).await;
        self.expect_no_write(updated, &expired.id, check, "update of an expired record")
            .await;
    }

    /// 50 concurrent deltas on different keys of one session all persist.
    pub async fn concurrent_deltas_lose_nothing(&self) {
        let check = "concurrent deltas";
        let record = sample();
        self.create(&record, check).await;
        let expires_at = now_ms() + HOUR_MS;
        let tasks: Vec<_> = (0..50)
            .map(|n| {
                let store = Arc::clone(&self.store);
                let id = record.id;
                let absolute_deadline = record.absolute_deadline;
                tokio::spawn(async move {
                    let delta = Delta {
                        changed: vec![set(&format!("key{n}"), &n.to_string())],
                        expires_at,
                        absolute_deadline,
                        ..Delta::default()
                    };
                    store.update(&id, &delta).await
                })
            })
            .collect();
        for task in tasks {
            match task.await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    panic!("store conformance: {check}: update of a live record returned false")
                }
                Ok(Err(error)) => panic!("store conformance: {check}: update failed: {error}"),
                Err(error) => panic!("store conformance: {check}: a task panicked: {error}"),
            }
        }
        let Some(loaded) = self.load(&record.id, check).await else {
            panic!("store conformance: {check}: the session is gone after 50 updates");
        };
        let missing: Vec<String> = (0..50)
            .filter(|n| {
                loaded
                    .data
                    .get(format!("key{n}").as_str())
                    .map(|value| value.get())
                    != Some(n.to_string().as_str())
            })
            .map(|n| format!("key{n}"))
            .collect();
        assert!(
            missing.is_empty(),
            "store conformance: {check}: 50 concurrent deltas each set one key; {} were lost: {}. \
             Store::update must be atomic (a lock, a transaction or a server-side script), not \
             load-apply-save",
            missing.len(),
            missing.join(", ")
        );
        assert_eq!(
            loaded.data.get("user").map(|value| value.get()),
            Some(r#""alice""#),
            "store conformance: {check}: keys no delta touched must survive"
        );
    }
}
