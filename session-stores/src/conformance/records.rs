//! Records: a round trip, `create` that never overwrites (even concurrently), expiry, delete,
//! and ids an attacker chooses.

use super::*;

impl Suite {
    /// Values, deadlines, version and the expiry override come back exactly.
    pub async fn round_trip(&self) {
        let check = "round trip";
        let mut saved = sample();
        saved.version = 3;
        saved.expiry = Some(Expiry::persistent(std::time::Duration::from_secs(
            30 * 86_400,
        )));
        self.create(&saved, check).await;
        assert_eq!(
            self.load(&saved.id, check).await.as_ref(),
            Some(&saved),
            "store conformance: {check}: a saved record must load back unchanged"
        );

        let mut created = sample();
        created.absolute_deadline = None;
        created.data.clear();
        self.create(&created, check).await;
        assert_eq!(
            self.load(&created.id, check).await.as_ref(),
            Some(&created),
            "store conformance: {check}: a created record (no values, no absolute deadline) must load back unchanged"
        );

        assert_eq!(
            self.load(&SessionId::generate(), check).await,
            None,
            "store conformance: {check}: an unknown id must load as None"
        );
    }

    /// `create` of an existing id is `AlreadyExists` and keeps the first record.
    pub async fn create_never_overwrites(&self) {
        let check = "create never overwrites";
        let first = sample();
        self.create(&first, check).await;
        let mut intruder = first.clone();
        intruder.data.clear();
        intruder.data.insert("user".into(), raw(r#""mallory""#));
        match self.store.create(&intruder).await {
            Err(StoreError::AlreadyExists) => {}
            other => panic!(
                "store conformance: {check}: a second create of one id must be \
                 Err(StoreError::AlreadyExists), got {other:?}"
            ),
        }
        assert_eq!(
            self.load(&first.id, check).await.as_ref(),
            Some(&first),
            "store conformance: {check}: the refused create must leave the first record"
        );
    }

    /// Of ten concurrent creates of one id, exactly one succeeds.
    pub async fn concurrent_creates_of_one_id_store_one_record(&self) {
        let check = "concurrent creates";
        let template = sample();
        let tasks: Vec<_> = (0..10)
            .map(|n| {
                let store = Arc::clone(&self.store);
                let mut record = template.clone();
                record.data.insert("writer".into(), raw(&n.to_string()));
                tokio::spawn(async move { (n, store.create(&record).await) })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await {
                Ok((n, Ok(()))) => winners.push(n),
                Ok((_, Err(StoreError::AlreadyExists))) => {}
                Ok((_, Err(error))) => panic!("store conformance: {check}: create failed: {error}"),
                Err(error) => panic!("store conformance: {check}: a task panicked: {error}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "store conformance: {check}: exactly one of ten concurrent creates of one id must succeed, {} did",
            winners.len()
        );
        let loaded = self.load(&template.id, check).await;
        let writer = loaded
            .as_ref()
            .and_then(|record| record.data.get("writer"))
            .map(|value| value.get().to_string());
        assert_eq!(
            writer,
            Some(winners[0].to_string()),
            "store conformance: {check}: the stored record must be the one whose create succeeded"
        );
    }

    /// Past its idle or its absolute deadline a record is not loaded.
    pub async fn expired_records_are_not_loaded(&self) {
        let check = "expiry";
        let now = now_ms();
        let mut idle = sample();
        idle.expires_at = now.saturating_sub(1_000);
        self.create(&idle, check).await;
        self.expect_gone(
            &idle.id,
            check,
            "a record whose expires_at has passed must not load",
        )
        .await;

        let mut absolute = sample();
        absolute.absolute_deadline = Some(now.saturating_sub(1_000));
        self.create(&absolute, check).await;
        self.expect_gone(
            &absolute.id,
            check,
            "a record whose absolute deadline has passed must not load, \
             even when its expires_at is later",
        )
        .await;
    }

    /// Delete removes; deleting nothing is fine.
    pub async fn delete_removes_the_record(&self) {
        let check = "delete";
        let record = sample();
        self.create(&record, check).await;
        self.delete(&record.id, check).await;
        self.expect_gone(&record.id, check, "a deleted record must not load")
            .await;
        if let Err(error) = self.store.delete(&record.id).await {
            panic!("store conformance: {check}: deleting a missing record must succeed: {error}");
        }
        assert!(
            !self.update(&record.id, &Delta::default(), check).await,
            "store conformance: {check}: update of a deleted record must return false"
        );
    }

    /// Attacker-chosen strings never become ids, so they never reach a store.
    pub fn hostile_ids_never_reach_the_store(&self) {
        let check = "hostile ids";
        let valid = SessionId::generate().to_string();
        let hostile = [
            String::new(),
            "..".to_string(),
            "../../../../etc/passwd".to_string(),
            format!("../{}", &valid[..40]),
            format!("{}/x", &valid[..41]),
            format!("{}\\x", &valid[..41]),
            format!("{}\0", &valid[..42]),
            format!("{}=", &valid[..42]),
            format!("{valid}="),
            format!("{}==", &valid[..41]),
            format!("{}+", &valid[..42]),
            format!("{}.", &valid[..42]),
            format!("{} ", &valid[..42]),
            format!("{}*", &valid[..42]),
            format!("{}\n", &valid[..42]),
            format!("{}é", &valid[..41]),
            "A".repeat(100_000),
            valid[..42].to_string(),
            format!("{valid}A"),
            "session:*".to_string(),
        ];
        for text in &hostile {
            let shown: String = text.chars().take(60).collect();
            assert!(
                text.parse::<SessionId>().is_err(),
                "store conformance: {check}: {shown:?} must not parse as a session id"
            );
            let json = serde_json::json!({ "i": text, "c": 0, "e": 0 });
            assert!(
                serde_json::from_value::<Record>(json).is_err(),
                "store conformance: {check}: a record with id {shown:?} must not deserialize"
            );
        }
        for _ in 0..100 {
            let id = SessionId::generate();
            let key = id.storage_key();
            assert!(
                key.len() == 43
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "store conformance: {check}: storage keys must be 43 characters of base64url"
            );
            assert_eq!(
                id.to_string().parse::<SessionId>().ok(),
                Some(id),
                "store conformance: {check}: generated ids must parse back"
            );
        }
    }
}
