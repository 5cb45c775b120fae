//! Checks of the Redis store's Store v2 contract that run against a single server and against a
//! cluster alike: each takes a fresh store (its own key prefix) and a raw connection to the same
//! server or cluster, for looking behind the store's back.

#![allow(dead_code)]

use redis::aio::ConnectionLike;
use session_core::{
    now_ms, ClientInfo, DataKey, Delta, Device, Expiry, RawJson, Record, SessionId, Store,
    StoreError, DEVICE_KEY,
};
use session_stores::redis::RedisStore;
use session_stores::testing::configured_session_write;

pub fn json(text: &str) -> RawJson {
    RawJson::from_string(text.to_string()).unwrap()
}

pub fn record() -> Record {
    Record::new(SessionId::generate(), &Expiry::default(), now_ms())
}

pub fn owned(owner: &str) -> Record {
    let mut record = record();
    record.owner = Some(owner.into());
    record
}

/// Regenerates `record` (which must be live) to a new id, with no change, and returns the id.
async fn move_to_new_id(store: &RedisStore, record: &Record) -> SessionId {
    let new = SessionId::generate();
    let unchanged = delta(record, &[]);
    assert!(store
        .regenerate(&record.id, &new, &unchanged)
        .await
        .unwrap());
    new
}

/// Two owners' names no other check uses: `first` and `second`, each with one random tag.
fn two_owners(first: &str, second: &str) -> (String, String) {
    let tag = &SessionId::generate().storage_key()[..8];
    (format!("{first}-{tag}"), format!("{second}-{tag}"))
}

/// A delta that keeps the record's deadlines and sets `changed`.
pub fn delta(record: &Record, changed: &[(&str, &str)]) -> Delta {
    Delta {
        changed: changed
            .iter()
            .map(|(key, value)| (DataKey::from(*key), json(value)))
            .collect(),
        expires_at: record.expires_at,
        absolute_deadline: record.absolute_deadline,
        ..Delta::default()
    }
}

/// Runs a raw command and returns its reply.
pub async fn raw<T: redis::FromRedisValue>(
    redis: &mut (impl ConnectionLike + Send),
    args: &[&str],
) -> T {
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    command.query_async(redis).await.unwrap()
}

async fn load(store: &RedisStore, id: &SessionId) -> Option<Record> {
    store.load(id).await.unwrap()
}

async fn owner_keys(store: &RedisStore, owner: &str) -> Vec<String> {
    session_stores::testing::owner_keys(store, owner)
        .await
        .unwrap()
}

fn sorted_keys(ids: &[&SessionId]) -> Vec<String> {
    let mut keys: Vec<String> = ids.iter().map(|id| id.storage_key()).collect();
    keys.sort();
    keys
}

/// Regenerate moves the *stored* record (with an update that reached the store meanwhile), the
/// delta on top, its TTL, and its owner index entry; the old id is gone.
pub async fn regenerate_moves_the_stored_record_with_the_delta_on_top(
    store: &RedisStore,
    redis: &mut (impl ConnectionLike + Send),
) {
    let mut stored = owned("alice");
    stored.data.insert("a".into(), json("1"));
    stored.data.insert("b".into(), json("2"));
    store.create(&stored).await.unwrap();
    // Another request's update, which the regenerating request never saw.
    let other = delta(&stored, &[("c", "3")]);
    assert!(store.update(&stored.id, &other).await.unwrap());

    let new = SessionId::generate();
    let mut regenerating = delta(&stored, &[("a", "10")]);
    regenerating.removed = vec!["b".into()];
    regenerating.expires_at = now_ms() + 90_000;
    assert!(store
        .regenerate(&stored.id, &new, &regenerating)
        .await
        .unwrap());

    assert_eq!(load(store, &stored.id).await, None);
    assert!(!store.update(&stored.id, &other).await.unwrap());
    let moved = load(store, &new)
        .await
        .expect("the new id holds the session");
    let values: Vec<(&str, &str)> = moved
        .data
        .iter()
        .map(|(key, value)| (key.as_str(), value.get()))
        .collect();
    assert_eq!(values, [("a", "10"), ("c", "3")]);
    assert_eq!(moved.version, stored.version + 2);
    assert_eq!(moved.created_at, stored.created_at);
    assert_eq!(moved.expires_at, regenerating.expires_at);
    assert_eq!(moved.owner.as_deref(), Some("alice"));
    let ttl: i64 = raw(redis, &["PTTL", &store.key_of(&new)]).await;
    assert!(
        ttl > 60_000 && ttl <= 90_000,
        "PTTL after regenerate was {ttl}"
    );
    assert_eq!(owner_keys(store, "alice").await, sorted_keys(&[&new]));
}

/// Regenerate rebinds the owner when its delta says so.
pub async fn regenerate_rebinds_the_owner(
    store: &RedisStore,
    _redis: &mut (impl ConnectionLike + Send),
) {
    let stored = record();
    store.create(&stored).await.unwrap();
    let new = SessionId::generate();
    let mut login = delta(&stored, &[("user", "\"carol\"")]);
    login.owner = Some(Some("carol".into()));
    assert!(store.regenerate(&stored.id, &new, &login).await.unwrap());
    assert_eq!(
        load(store, &new).await.unwrap().owner.as_deref(),
        Some("carol")
    );
    assert_eq!(owner_keys(store, "carol").await, sorted_keys(&[&new]));

    let newer = SessionId::generate();
    let mut logout = delta(&stored, &[]);
    logout.owner = Some(None);
    assert!(store.regenerate(&new, &newer, &logout).await.unwrap());
    assert_eq!(load(store, &newer).await.unwrap().owner, None);
    assert!(owner_keys(store, "carol").await.is_empty());
}

/// A regenerate of a destroyed (or never stored) session is `false` and writes nothing: a logout
/// racing a second tab's login is not undone.
pub async fn regenerate_of_a_gone_session_is_false_and_writes_nothing(
    store: &RedisStore,
    redis: &mut (impl ConnectionLike + Send),
) {
    let stored = owned("dave");
    store.create(&stored).await.unwrap();
    store.delete(&stored.id).await.unwrap();
    let new = SessionId::generate();
    assert!(!store
        .regenerate(&stored.id, &new, &delta(&stored, &[("a", "1")]))
        .await
        .unwrap());
    let exists: i64 = raw(redis, &["EXISTS", &store.key_of(&new)]).await;
    assert_eq!(exists, 0, "regenerate must not create the new key");
    assert!(owner_keys(store, "dave").await.is_empty());
}

/// A regenerate onto a live id is `AlreadyExists` and leaves both records as they were.
pub async fn regenerate_onto_a_live_id_is_already_exists(
    store: &RedisStore,
    _redis: &mut (impl ConnectionLike + Send),
) {
    let mut first = record();
    first.data.insert("who".into(), json("1"));
    let mut second = record();
    second.data.insert("who".into(), json("2"));
    store.create(&first).await.unwrap();
    store.create(&second).await.unwrap();
    let result = store
        .regenerate(&first.id, &second.id, &delta(&first, &[("who", "3")]))
        .await;
    assert!(
        matches!(result, Err(StoreError::AlreadyExists)),
        "{result:?}"
    );
    assert_eq!(load(store, &first.id).await, Some(first));
    assert_eq!(load(store, &second.id).await, Some(second));
}

/// Two concurrent regenerates of one session leave exactly one live session.
pub async fn concurrent_regenerates_leave_one_session(
    store: &RedisStore,
    _redis: &mut (impl ConnectionLike + Send),
) {
    for _ in 0..10 {
        let stored = owned("erin");
        store.create(&stored).await.unwrap();
        let targets = [SessionId::generate(), SessionId::generate()];
        let tasks: Vec<_> = targets
            .iter()
            .map(|target| {
                let (store, old, target) = (store.clone(), stored.id, *target);
                let delta = delta(&stored, &[("by", "1")]);
                tokio::spawn(async move { store.regenerate(&old, &target, &delta).await })
            })
            .collect();
        let mut moved = 0;
        for task in tasks {
            moved += usize::from(task.await.unwrap().unwrap());
        }
        assert_eq!(moved, 1, "exactly one regenerate must win");
        let mut live = 0;
        for target in &targets {
            live += usize::from(load(store, target).await.is_some());
        }
        assert_eq!(live, 1);
        assert_eq!(owner_keys(store, "erin").await.len(), 1);
        store.delete_owner("erin", None).await.unwrap();
    }
}

/// The owner index follows create, rebind, unbind and delete, and lists storage keys and times,
/// never ids.
pub async fn the_owner_index_follows_every_write(
    store: &RedisStore,
    redis: &mut (impl ConnectionLike + Send),
) {
    let first = owned("frank");
    let second = owned("frank");
    let third = record();
    for record in [&first, &second, &third] {
        store.create(record).await.unwrap();
    }
    let sessions = store.owner_sessions("frank").await.unwrap();
    assert_eq!(sessions.len(), 2);
    for session in &sessions {
        let record = if session.handle == first.id.storage_key() {
            &first
        } else {
            &second
        };
        assert_eq!(session.handle, record.id.storage_key());
        assert_eq!(session.created_at, record.created_at);
        assert_eq!(session.expires_at, record.expires_at);
        assert!(![first.id, second.id]
            .iter()
            .any(|id| session.handle.contains(&id.to_string())));
    }

    let mut bind = delta(&third, &[]);
    bind.owner = Some(Some("frank".into()));
    assert!(store.update(&third.id, &bind).await.unwrap());
    assert_eq!(
        owner_keys(store, "frank").await,
        sorted_keys(&[&first.id, &second.id, &third.id])
    );

    let mut rebind = delta(&first, &[]);
    rebind.owner = Some(Some("grace".into()));
    assert!(store.update(&first.id, &rebind).await.unwrap());
    let mut unbind = delta(&second, &[]);
    unbind.owner = Some(None);
    assert!(store.update(&second.id, &unbind).await.unwrap());
    assert_eq!(owner_keys(store, "frank").await, sorted_keys(&[&third.id]));
    assert_eq!(owner_keys(store, "grace").await, sorted_keys(&[&first.id]));
    assert_eq!(load(store, &second.id).await.unwrap().owner, None);

    // An update that does not touch the owner keeps it.
    assert!(store
        .update(&third.id, &delta(&third, &[("k", "1")]))
        .await
        .unwrap());
    assert_eq!(
        load(store, &third.id).await.unwrap().owner.as_deref(),
        Some("frank")
    );

    store.delete(&third.id).await.unwrap();
    assert!(owner_keys(store, "frank").await.is_empty());
    let members: Vec<String> = raw(redis, &["SMEMBERS", &store.owner_key_of("frank")]).await;
    // On a cluster a rebound or unbound member may stay until its record is gone (see the
    // module documentation); on one server the listing prunes those too.
    let stale = [first.id.storage_key(), second.id.storage_key()];
    assert!(
        members.iter().all(|member| stale.contains(member)),
        "dead members are pruned on read: {members:?}"
    );
}

/// `delete_owner` ends every session of the owner, and only those.
pub async fn delete_owner_ends_the_owners_sessions_only(
    store: &RedisStore,
    _redis: &mut (impl ConnectionLike + Send),
) {
    let mine: Vec<Record> = (0..3).map(|_| owned("heidi")).collect();
    let theirs = owned("ivan");
    let unowned = record();
    for record in mine.iter().chain([&theirs, &unowned]) {
        store.create(record).await.unwrap();
    }
    let mut rebind = delta(&mine[2], &[]);
    rebind.owner = Some(Some("ivan".into()));
    assert!(store.update(&mine[2].id, &rebind).await.unwrap());

    assert_eq!(store.delete_owner("heidi", None).await.unwrap(), 2);
    assert_eq!(load(store, &mine[0].id).await, None);
    assert_eq!(load(store, &mine[1].id).await, None);
    assert!(load(store, &mine[2].id).await.is_some());
    assert!(load(store, &theirs.id).await.is_some());
    assert!(load(store, &unowned.id).await.is_some());
    assert!(store.owner_sessions("heidi").await.unwrap().is_empty());
    assert_eq!(store.owner_sessions("ivan").await.unwrap().len(), 2);
    assert_eq!(store.delete_owner("nobody", None).await.unwrap(), 0);
}

/// An owner's set lives at least as long as its longest member, also when updates slide that
/// member's deadline far past the set's first expiry.
pub async fn owner_sets_live_as_long_as_their_longest_member(
    store: &RedisStore,
    redis: &mut (impl ConnectionLike + Send),
) {
    let mut stored = owned("judy");
    stored.expires_at = now_ms() + 60_000;
    stored.absolute_deadline = None;
    store.create(&stored).await.unwrap();
    let set = store.owner_key_of("judy");
    let ttl: i64 = raw(redis, &["PTTL", &set]).await;
    assert!(ttl >= 60_000, "owner set PTTL after create was {ttl}");

    let week = 7 * 24 * 3_600_000;
    let mut slide = delta(&stored, &[]);
    slide.expires_at = now_ms() + week;
    assert!(store.update(&stored.id, &slide).await.unwrap());
    let ttl: i64 = raw(redis, &["PTTL", &set]).await;
    assert!(
        ttl >= week as i64,
        "owner set PTTL after a sliding update was {ttl}"
    );
    let key_ttl: i64 = raw(redis, &["PTTL", &store.key_of(&stored.id)]).await;
    assert!(ttl >= key_ttl);
}

/// `count` counts the live sessions under the store's prefix (not owner sets, not other
/// prefixes); `exists` follows the record.
pub async fn count_and_exists_follow_the_records(
    store: &RedisStore,
    _redis: &mut (impl ConnectionLike + Send),
) {
    assert_eq!(store.count().await.unwrap(), 0);
    let records = [owned("ken"), owned("ken"), record()];
    for record in &records {
        assert!(!store.exists(&record.id).await.unwrap());
        store.create(record).await.unwrap();
        assert!(store.exists(&record.id).await.unwrap());
    }
    assert_eq!(store.count().await.unwrap(), 3);
    store.delete(&records[0].id).await.unwrap();
    assert!(!store.exists(&records[0].id).await.unwrap());
    assert_eq!(store.count().await.unwrap(), 2);
}

/// A hash missing `@c`/`@e`, or with a value that does not decode, is `Corrupt`, not a backend
/// failure; a corrupt record does not block its owner's listing or revocation.
pub async fn corrupt_records_are_corrupt(
    store: &RedisStore,
    redis: &mut (impl ConnectionLike + Send),
) {
    let damage: [&[&str]; 4] = [
        &["HDEL", "@e"],
        &["HSET", "@e", "soon"],
        &["HSET", "d:cart", "{\"items\":"],
        &["HSET", "@v", "many"],
    ];
    for command in damage {
        let stored = owned("leo");
        store.create(&stored).await.unwrap();
        let key = store.key_of(&stored.id);
        let mut args = vec![command[0], key.as_str()];
        args.extend_from_slice(&command[1..]);
        let _: redis::Value = raw(redis, &args).await;
        let result = store.load(&stored.id).await;
        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "{command:?}: {result:?}"
        );
    }
    assert!(store.owner_sessions("leo").await.is_ok());
    assert_eq!(store.delete_owner("leo", None).await.unwrap(), 4);
}

/// An update of a gone session (never created, deleted, or moved by a regenerate) is `false` and
/// leaves no key behind; a hash without `@c`, what such an update writes before the store
/// deletes it, is no session to any reader and is written over by `create`.
pub async fn an_update_of_a_gone_session_leaves_nothing(
    store: &RedisStore,
    redis: &mut (impl ConnectionLike + Send),
) {
    let never = record();
    let deleted = owned("nina");
    store.create(&deleted).await.unwrap();
    store.delete(&deleted.id).await.unwrap();
    let moved = owned("nina");
    store.create(&moved).await.unwrap();
    let moved_to = move_to_new_id(store, &moved).await;
    for gone in [&never, &deleted, &moved] {
        let change = delta(gone, &[("cart", "[1]")]);
        assert!(!store.update(&gone.id, &change).await.unwrap());
        let key = store.key_of(&gone.id);
        let exists: i64 = raw(redis, &["EXISTS", &key]).await;
        assert_eq!(exists, 0, "an update of a gone session left {key}");
    }
    assert_eq!(owner_keys(store, "nina").await, [moved_to.storage_key()]);

    let stray = record();
    let key = store.key_of(&stray.id);
    let _: i64 = raw(
        redis,
        &["HSET", &key, "@v", "1", "@e", "99999999999999", "d:a", "1"],
    )
    .await;
    assert_eq!(load(store, &stray.id).await, None);
    assert!(!store.exists(&stray.id).await.unwrap());
    store.create(&stray).await.unwrap();
    assert_eq!(load(store, &stray.id).await, Some(stray.clone()));
}

/// A version that is not a number makes an update fail as `Corrupt` (the manager then starts a
/// new session), not as an outage.
pub async fn an_update_of_a_corrupt_version_is_corrupt(
    store: &RedisStore,
    redis: &mut (impl ConnectionLike + Send),
) {
    let stored = record();
    store.create(&stored).await.unwrap();
    let key = store.key_of(&stored.id);
    let _: i64 = raw(redis, &["HSET", &key, "@v", "many"]).await;
    let result = store
        .update(&stored.id, &delta(&stored, &[("a", "1")]))
        .await;
    assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
}

/// An update that removes nothing (a remember-me session keeps its override and its absolute
/// deadline, and no key goes) applies like any other: the transaction holds no empty `HDEL`.
pub async fn an_update_that_removes_nothing_applies(
    store: &RedisStore,
    _redis: &mut (impl ConnectionLike + Send),
) {
    let mut remembered = record();
    remembered.expiry = Some(Expiry::default());
    remembered.absolute_deadline = Some(remembered.expires_at + 60_000);
    store.create(&remembered).await.unwrap();
    let mut change = delta(&remembered, &[("cart", "[2]")]);
    change.expiry = remembered.expiry.clone();
    assert!(store.update(&remembered.id, &change).await.unwrap());
    let loaded = load(store, &remembered.id)
        .await
        .expect("the session is live");
    assert_eq!(loaded.data.get("cart").map(RawJson::get), Some("[2]"));
    assert_eq!(loaded.expiry, remembered.expiry);
    assert_eq!(loaded.absolute_deadline, remembered.absolute_deadline);
}

/// Redis expires records by their TTL: the store needs no cleanup loop.
pub async fn the_store_needs_no_cleanup(
    store: &RedisStore,
    _redis: &mut (impl ConnectionLike + Send),
) {
    assert!(store.cleanup().is_none());
}

/// A key of another type than a hash under a session's name is `Corrupt` to every operation that
/// reads it (the manager then deletes it and starts a new session), not a backend failure.
pub async fn keys_of_the_wrong_type_are_corrupt(
    store: &RedisStore,
    redis: &mut (impl ConnectionLike + Send),
) {
    for (kind, write) in [("string", "SET"), ("list", "RPUSH"), ("set", "SADD")] {
        let stored = record();
        let key = store.key_of(&stored.id);
        let _: redis::Value = raw(redis, &[write, &key, "x"]).await;
        let corrupt = |result: &dyn std::fmt::Debug, matched: bool| {
            assert!(matched, "a {kind} under a session's key: {result:?}");
        };
        let loaded = store.load(&stored.id).await;
        corrupt(&loaded, matches!(loaded, Err(StoreError::Corrupt(_))));
        let exists = store.exists(&stored.id).await;
        corrupt(&exists, matches!(exists, Err(StoreError::Corrupt(_))));
        let updated = store
            .update(&stored.id, &delta(&stored, &[("a", "1")]))
            .await;
        corrupt(&updated, matches!(updated, Err(StoreError::Corrupt(_))));
        let regenerated = store
            .regenerate(&stored.id, &SessionId::generate(), &delta(&stored, &[]))
            .await;
        corrupt(
            &regenerated,
            matches!(regenerated, Err(StoreError::Corrupt(_))),
        );
        store.delete(&stored.id).await.unwrap();
        assert_eq!(store.load(&stored.id).await.unwrap(), None);
    }
}

/// An owner's set of the wrong type makes `create` fail without writing the session: no hash is
/// left behind without a deadline.
pub async fn an_owner_index_of_the_wrong_type_writes_no_session(
    store: &RedisStore,
    redis: &mut (impl ConnectionLike + Send),
) {
    let owner = format!("wrongtype-{}", &SessionId::generate().storage_key()[..8]);
    let _: redis::Value = raw(redis, &["SET", &store.owner_key_of(&owner), "x"]).await;
    let stored = owned(&owner);
    assert!(store.create(&stored).await.is_err());
    let key = store.key_of(&stored.id);
    assert_eq!(raw::<i64>(redis, &["EXISTS", &key]).await, 0);
    let _: redis::Value = raw(redis, &["DEL", &store.owner_key_of(&owner)]).await;
}

/// A session bound to an owner holds its device record under `DEVICE_KEY`: `owner_sessions`
/// returns it with each entry (and follows an update of it), and an entry without one, or with
/// one that does not decode, has none.
pub async fn device_records_round_trip_through_owner_sessions(
    store: &RedisStore,
    _redis: &mut (impl ConnectionLike + Send),
) {
    let owner = format!("device-{}", &SessionId::generate().storage_key()[..8]);
    let client = ClientInfo {
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        ip: Some("192.0.2.7".into()),
    };
    let device = Device::at_login(now_ms() - 5_000, &client, true);
    let mut with_device = owned(&owner);
    with_device
        .data
        .insert(DEVICE_KEY.into(), device.to_value());
    let without_device = owned(&owner);
    let mut foreign = owned(&owner);
    foreign
        .data
        .insert(DEVICE_KEY.into(), json("\"not a device\""));
    for record in [&with_device, &without_device, &foreign] {
        store.create(record).await.unwrap();
    }
    let listed = store.owner_sessions(&owner).await.unwrap();
    let entry = |handle: String| {
        listed
            .iter()
            .find(|session| session.handle == handle)
            .unwrap_or_else(|| panic!("{handle} is not listed: {listed:?}"))
            .clone()
    };
    assert_eq!(listed.len(), 3);
    let first = entry(with_device.id.storage_key());
    assert_eq!(first.device.as_ref(), Some(&device));
    assert_eq!(first.created_at, with_device.created_at);
    assert_eq!(first.expires_at, with_device.expires_at);
    assert!(!first.current, "stores leave `current` to the manager");
    assert_eq!(entry(without_device.id.storage_key()).device, None);
    assert_eq!(entry(foreign.id.storage_key()).device, None);

    // The manager moves `last_seen_at` with an update, as a changed key.
    let seen = Device {
        last_seen_at: now_ms(),
        ..device.clone()
    };
    let mut touch = delta(&with_device, &[]);
    touch.changed.push((DEVICE_KEY.into(), seen.to_value()));
    assert!(store.update(&with_device.id, &touch).await.unwrap());
    let listed = store.owner_sessions(&owner).await.unwrap();
    let first = listed
        .iter()
        .find(|session| session.handle == with_device.id.storage_key())
        .expect("still listed");
    assert_eq!(first.device.as_ref(), Some(&seen));
    assert_eq!(first.last_seen_at(), seen.last_seen_at);
    store.delete_owner(&owner, None).await.unwrap();
}

/// `delete_owned` ends the owner's session under the handle it is given, and nothing when the
/// handle is another owner's, made up, or not a storage key at all (another key of the store).
pub async fn delete_owned_ends_only_the_owners_session(
    store: &RedisStore,
    redis: &mut (impl ConnectionLike + Send),
) {
    let (alice, bob) = two_owners("alice", "bob");
    let (first, second, theirs) = (owned(&alice), owned(&alice), owned(&bob));
    let unowned = record();
    for record in [&first, &second, &theirs, &unowned] {
        store.create(record).await.unwrap();
    }
    let made_up_id = SessionId::generate();
    let made_up = made_up_id.storage_key();
    let bobs_set = store.owner_key_of(&bob);
    let bobs_set_name = bobs_set
        .strip_prefix(
            store
                .key_of(&first.id)
                .trim_end_matches(&first.id.storage_key()),
        )
        .expect("the owner's set is under the key prefix")
        .to_string();
    for refused in [
        theirs.id.storage_key(),
        unowned.id.storage_key(),
        made_up.clone(),
        bobs_set_name,
        String::new(),
    ] {
        assert!(
            !store.delete_owned(&alice, &refused).await.unwrap(),
            "{refused:?} is not one of alice's sessions"
        );
    }
    assert!(!store
        .delete_owned(&bob, &first.id.storage_key())
        .await
        .unwrap());
    for record in [&first, &second, &theirs, &unowned] {
        assert!(load(store, &record.id).await.is_some());
    }
    assert_eq!(raw::<i64>(redis, &["EXISTS", &bobs_set]).await, 1);
    // Nothing is written under a made-up handle (no tombstone either).
    assert_eq!(
        raw::<i64>(redis, &["EXISTS", &store.key_of(&made_up_id)]).await,
        0
    );

    assert!(store
        .delete_owned(&alice, &first.id.storage_key())
        .await
        .unwrap());
    assert_eq!(load(store, &first.id).await, None);
    assert!(load(store, &second.id).await.is_some());
    assert_eq!(owner_keys(store, &alice).await, sorted_keys(&[&second.id]));
    assert_eq!(owner_keys(store, &bob).await, sorted_keys(&[&theirs.id]));
    let members: Vec<String> = raw(redis, &["SMEMBERS", &store.owner_key_of(&alice)]).await;
    assert_eq!(members, [second.id.storage_key()], "the set is pruned");
    // Once gone, it is gone.
    assert!(!store
        .delete_owned(&alice, &first.id.storage_key())
        .await
        .unwrap());
    // A session that was moved away from a handle is not ended through that handle.
    let moved_to = move_to_new_id(store, &second).await;
    assert!(!store
        .delete_owned(&alice, &second.id.storage_key())
        .await
        .unwrap());
    assert!(load(store, &moved_to).await.is_some());
    store.delete_owner(&alice, None).await.unwrap();
    store.delete_owner(&bob, None).await.unwrap();
}

/// `delete_owner` with `keep` ends every other session of the owner and spares exactly the kept
/// one, which then moves and ends as any session does (the revocation leaves no mark behind);
/// a `keep` that is not the owner's spares nothing of the owner's and touches nothing else.
pub async fn delete_owner_keeping_one_spares_exactly_that_one(
    store: &RedisStore,
    _redis: &mut (impl ConnectionLike + Send),
) {
    let (owner, other) = two_owners("keeper", "other");
    let mine: Vec<Record> = (0..4).map(|_| owned(&owner)).collect();
    let theirs = owned(&other);
    for record in mine.iter().chain([&theirs]) {
        store.create(record).await.unwrap();
    }
    let kept = &mine[1];
    assert_eq!(
        store
            .delete_owner(&owner, Some(&kept.id.storage_key()))
            .await
            .unwrap(),
        3
    );
    for record in &mine {
        assert_eq!(
            load(store, &record.id).await.is_some(),
            record.id == kept.id,
            "only the kept session lives"
        );
    }
    assert_eq!(owner_keys(store, &owner).await, sorted_keys(&[&kept.id]));
    assert!(load(store, &theirs.id).await.is_some());

    // The revocation left no mark: a later login of the owner moves as usual. And the kept
    // session goes on as any other: it moves, and a later revocation ends it.
    let later = owned(&owner);
    store.create(&later).await.unwrap();
    let later_moved_to = move_to_new_id(store, &later).await;
    let moved_to = move_to_new_id(store, kept).await;
    assert_eq!(
        store
            .delete_owner(&owner, Some(&theirs.id.storage_key()))
            .await
            .unwrap(),
        2
    );
    assert_eq!(load(store, &moved_to).await, None);
    assert_eq!(load(store, &later_moved_to).await, None);
    assert!(load(store, &theirs.id).await.is_some());
    assert_eq!(
        store
            .delete_owner(&other, Some("not a storage key"))
            .await
            .unwrap(),
        1
    );
}

/// A bounded stress run: chains of regenerates of an owner's sessions race `delete_owner`. Once
/// it has returned, none of the sessions lives under any id, and no regenerate fails: one that
/// loses the race finds the session gone. Bounded by count (iterations, regenerates per chain)
/// and by time (no iteration starts after `STRESS_SECONDS`).
pub async fn regenerates_racing_delete_owner_leave_no_survivor(
    store: &RedisStore,
    _redis: &mut (impl ConnectionLike + Send),
) {
    race_delete_owner(store, false).await;
}

/// The same race with a kept session ("log out my other devices"), which also regenerates
/// again and again while the revocation runs: it is never ended (each of its regenerates
/// moves it) and lives at the end under its last id; none of the others survives.
pub async fn regenerates_racing_delete_owner_with_a_kept_session_leave_only_that_one(
    store: &RedisStore,
    _redis: &mut (impl ConnectionLike + Send),
) {
    race_delete_owner(store, true).await;
}

/// The outcome of one chain of regenerates: its last id, whether it was ever found gone, and
/// its error, if any.
type Chain = (SessionId, bool, Result<(), StoreError>);

/// Regenerates the session under `id` up to `steps` times; `moved` counts the first move.
fn chain_of_regenerates(
    store: &RedisStore,
    record: &Record,
    steps: usize,
    moved: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> tokio::task::JoinHandle<Chain> {
    let (store, record) = (store.clone(), record.clone());
    tokio::spawn(async move {
        let mut id = record.id;
        for step in 0..steps {
            let new = SessionId::generate();
            let result = store.regenerate(&id, &new, &delta(&record, &[])).await;
            if step == 0 {
                moved.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            match result {
                Ok(true) => id = new,
                Ok(false) => return (id, true, Ok(())),
                Err(error) => return (id, false, Err(error)),
            }
        }
        (id, false, Ok(()))
    })
}

async fn race_delete_owner(store: &RedisStore, keep: bool) {
    const CHAINS: usize = 4;
    const REGENERATES_PER_CHAIN: usize = 30;
    const STRESS_SECONDS: u64 = 20;
    // With a kept session, sessions that stand still make the revocation long enough for the
    // kept one to move many times while the owner is marked.
    let (iterations, bystanders) = if keep { (12, 600) } else { (60, 0) };
    let started = std::time::Instant::now();
    let (mut survivors, mut errors, mut runs, mut kept_ended) = (0, Vec::new(), 0, 0);
    for iteration in 0..iterations {
        if started.elapsed() > std::time::Duration::from_secs(STRESS_SECONDS) {
            break;
        }
        runs += 1;
        let owner = format!(
            "racer-{iteration}-{}",
            &SessionId::generate().storage_key()[..8]
        );
        let mut still = Vec::new();
        for _ in 0..bystanders {
            let record = owned(&owner);
            store.create(&record).await.unwrap();
            still.push(record.id);
        }
        let moving = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut chains = Vec::new();
        for _ in 0..CHAINS {
            let record = owned(&owner);
            store.create(&record).await.unwrap();
            chains.push(chain_of_regenerates(
                store,
                &record,
                REGENERATES_PER_CHAIN,
                moving.clone(),
            ));
        }
        // Revoke once every chain has made its first move, while they keep moving.
        while moving.load(std::sync::atomic::Ordering::SeqCst) < CHAINS {
            tokio::task::yield_now().await;
        }
        let kept = if keep {
            let record = owned(&owner);
            store.create(&record).await.unwrap();
            Some(record)
        } else {
            None
        };
        let revocation = {
            let (store, owner) = (store.clone(), owner.clone());
            let kept = kept.as_ref().map(|record| record.id.storage_key());
            tokio::spawn(async move { store.delete_owner(&owner, kept.as_deref()).await })
        };
        let kept_chain = match &kept {
            Some(record) => {
                // The kept session starts moving once the revocation is under way (a session
                // that stood still is gone), so every move of it races the revocation's mark.
                let mut probe = 0;
                while store.exists(&still[probe % still.len()]).await.unwrap()
                    && !revocation.is_finished()
                {
                    probe += 7;
                }
                Some(chain_of_regenerates(
                    store,
                    record,
                    REGENERATES_PER_CHAIN,
                    moving.clone(),
                ))
            }
            None => None,
        };
        revocation.await.unwrap().unwrap();
        for chain in chains {
            let (id, _, outcome) = chain.await.unwrap();
            if let Err(error) = outcome {
                errors.push(error.to_string());
            }
            if store.load(&id).await.unwrap().is_some() {
                survivors += 1;
            }
        }
        for id in &still {
            survivors += usize::from(store.load(id).await.unwrap().is_some());
        }
        if let Some(chain) = kept_chain {
            let (id, ended, outcome) = chain.await.unwrap();
            if let Err(error) = outcome {
                errors.push(format!("kept session: {error}"));
            }
            if ended || store.load(&id).await.unwrap().is_none() {
                kept_ended += 1;
            }
            store.delete_owner(&owner, None).await.unwrap();
        }
    }
    assert_eq!(
        (survivors, kept_ended, errors.len()),
        (0, 0, 0),
        "{survivors} sessions survived `delete_owner` and {kept_ended} kept sessions were \
         ended in {runs} runs; errors: {errors:?}"
    );
}

/// Every check, in turn.
pub async fn all(store: &RedisStore, redis: &mut (impl ConnectionLike + Send)) {
    regenerate_moves_the_stored_record_with_the_delta_on_top(store, redis).await;
    regenerate_rebinds_the_owner(store, redis).await;
    regenerate_of_a_gone_session_is_false_and_writes_nothing(store, redis).await;
    regenerate_onto_a_live_id_is_already_exists(store, redis).await;
    concurrent_regenerates_leave_one_session(store, redis).await;
    the_owner_index_follows_every_write(store, redis).await;
    delete_owner_ends_the_owners_sessions_only(store, redis).await;
    owner_sets_live_as_long_as_their_longest_member(store, redis).await;
    corrupt_records_are_corrupt(store, redis).await;
    an_update_of_a_gone_session_leaves_nothing(store, redis).await;
    an_update_of_a_corrupt_version_is_corrupt(store, redis).await;
    an_update_that_removes_nothing_applies(store, redis).await;
    the_store_needs_no_cleanup(store, redis).await;
    keys_of_the_wrong_type_are_corrupt(store, redis).await;
    an_owner_index_of_the_wrong_type_writes_no_session(store, redis).await;
    device_records_round_trip_through_owner_sessions(store, redis).await;
    delete_owned_ends_only_the_owners_session(store, redis).await;
    delete_owner_keeping_one_spares_exactly_that_one(store, redis).await;
    regenerates_racing_delete_owner_leave_no_survivor(store, redis).await;
    regenerates_racing_delete_owner_with_a_kept_session_leave_only_that_one(store, redis).await;
}

/// Builds the manager of a configuration whose `app` session (cookie `app`) names `store`, with
/// every store type of `session_stores::registry`, and writes a session through it: the cookie
/// comes back. Shows a topology works by configuration alone.
pub async fn a_configured_store_writes_a_session(store: &str) {
    let headers = configured_session_write(&app_config(store)).await.unwrap();
    assert!(headers[0].value().starts_with("app="));
}

/// A configuration whose `app` session (cookie `app`) names `store`.
fn app_config(store: &str) -> String {
    format!(
        "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"app\" }}\nstore = {store}\n"
    )
}

/// The message of the error that building the manager of a configuration whose `app` session
/// names `store` fails with, for options refused before any connection.
pub async fn configuration_error(store: &str) -> String {
    let config = session_core::SessionsConfig::from_toml(&app_config(store)).unwrap();
    let registry = session_stores::registry();
    session_core::SessionManager::from_config(&config, &registry, session_core::KeyRing::generate())
        .await
        .unwrap_err()
        .to_string()
}

/// A user name of the test's own, for a store that logs in as it so that closing that user's
/// connections closes only the store's.
pub fn closer_name() -> String {
    format!("closer{}", &SessionId::generate().storage_key()[..8]).replace(['-', '_'], "x")
}

/// Closes every connection of the user `user` on the server behind `redis`: how many it closed.
pub async fn close_connections_of(redis: &mut (impl ConnectionLike + Send), user: &str) -> i64 {
    raw(redis, &["CLIENT", "KILL", "USER", user]).await
}

/// Adds the user `user`, password `closer-secret`, allowed everything, on the server behind
/// `redis`.
pub async fn add_closer(redis: &mut (impl ConnectionLike + Send), user: &str) {
    let _: () = raw(
        redis,
        &[
            "ACL",
            "SETUSER",
            user,
            "on",
            ">closer-secret",
            "~*",
            "&*",
            "+@all",
        ],
    )
    .await;
}

/// Twelve records, created through `store`, for a test that then closes the store's connections
/// behind its back.
pub async fn created_records(store: &RedisStore) -> Vec<Record> {
    let records: Vec<_> = (0..12).map(|_| record()).collect();
    for record in &records {
        store.create(record).await.unwrap();
    }
    records
}

/// Every one of `records` loads and updates through `store` at once: the connections closed
/// behind the store's back cost no operation.
pub async fn closed_connections_cost_no_operation(store: &RedisStore, records: &[Record]) {
    for record in records {
        let loaded = store.load(&record.id).await;
        assert!(
            matches!(loaded, Ok(Some(_))),
            "load after the connections closed: {loaded:?}"
        );
        let delta = delta(record, &[("k", "1")]);
        let updated = store.update(&record.id, &delta).await;
        assert!(
            matches!(updated, Ok(true)),
            "update after the connections closed: {updated:?}"
        );
    }
}

/// Runs the conformance suite on `store`, whose records Redis expires by itself, corrupting
/// records through `redis`, a connection of the test's own to the same servers.
pub async fn conformance_suite(store: RedisStore, redis: impl ConnectionLike + Send + 'static) {
    let corrupter = store.clone();
    let shared = std::sync::Arc::new(tokio::sync::Mutex::new(redis));
    session_stores::conformance::Suite::new(std::sync::Arc::new(store))
        .backend_expires_records()
        .with_corrupter(move |id| {
            let (key, shared) = (corrupter.key_of(&id), shared.clone());
            async move {
                let mut redis = shared.lock().await;
                let _: i64 = raw(&mut *redis, &["HSET", &key, "@e", "soon"]).await;
            }
        })
        .run()
        .await;
}

/// One test per contract check named, each on a store of its own prefix, in a topology's test
/// file that defines `store_and_connection` (see [`topology_tests`]).
#[allow(unused_macros)]
macro_rules! contract_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let Some((store, mut redis)) = store_and_connection(stringify!($check)).await else {
                return;
            };
            redis_checks::$check(&store, &mut redis).await;
        }
    )*};
}

/// The tests of a topology: one per contract check, and the conformance suite. `|test| body`
/// gives the store of test `test` and a connection of the test's own to the same servers, or
/// `None` (the test is skipped) without servers:
/// `topology_tests!(|test| Some((store(test).await, connection().await)));`.
#[allow(unused_macros)]
macro_rules! topology_tests {
    (|$test:ident| $store_and_connection:expr) => {
        async fn store_and_connection(
            $test: &str,
        ) -> Option<(
            session_stores::redis::RedisStore,
            impl redis::aio::ConnectionLike + Send + 'static,
        )> {
            $store_and_connection
        }

        for_each_contract_check!(contract_checks);

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn redis_store_passes_the_conformance_suite() {
            let Some((store, redis)) = store_and_connection("conformance").await else {
                return;
            };
            redis_checks::conformance_suite(store, redis).await;
        }
    };
}

/// Calls `$each!` with the name of every contract check above, so that each topology's test
/// file runs one test per check without listing them again.
#[allow(unused_macros)]
macro_rules! for_each_contract_check {
    ($each:ident) => {
        $each!(
            regenerate_moves_the_stored_record_with_the_delta_on_top,
            regenerate_rebinds_the_owner,
            regenerate_of_a_gone_session_is_false_and_writes_nothing,
            regenerate_onto_a_live_id_is_already_exists,
            concurrent_regenerates_leave_one_session,
            the_owner_index_follows_every_write,
            delete_owner_ends_the_owners_sessions_only,
            owner_sets_live_as_long_as_their_longest_member,
            count_and_exists_follow_the_records,
            corrupt_records_are_corrupt,
            an_update_of_a_gone_session_leaves_nothing,
            an_update_of_a_corrupt_version_is_corrupt,
            an_update_that_removes_nothing_applies,
            the_store_needs_no_cleanup,
            keys_of_the_wrong_type_are_corrupt,
            an_owner_index_of_the_wrong_type_writes_no_session,
            device_records_round_trip_through_owner_sessions,
            delete_owned_ends_only_the_owners_session,
            delete_owner_keeping_one_spares_exactly_that_one,
            regenerates_racing_delete_owner_leave_no_survivor,
            regenerates_racing_delete_owner_with_a_kept_session_leave_only_that_one,
        );
    };
}
