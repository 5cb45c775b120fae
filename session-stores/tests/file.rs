//! The file store against the conformance suite and the Store contract through its public API,
//! and several processes sharing one directory.
//!
//! The multi-process test re-runs this test binary as a child process (selected with an
//! environment variable), so it needs no helper binary. Crashes and a full disk are in
//! `file_faults.rs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use session_core::{now_ms, Cleanup, Delta, Expiry, RawJson, Record, SessionId, Store, StoreError};
use session_stores::conformance::Suite;
use session_stores::file::{FileOptions, FileStore};

/// Set in a child process: the directory to write to, and what to do.
const CHILD_DIR: &str = "SESSION_STORES_TEST_CHILD_DIR";
const CHILD_ROLE: &str = "SESSION_STORES_TEST_CHILD_ROLE";
const CHILD_INDEX: &str = "SESSION_STORES_TEST_CHILD_INDEX";

const PROCESSES: usize = 4;
const UPDATES_PER_PROCESS: usize = 25;

fn store_in(dir: &Path) -> FileStore {
    FileStore::new(FileOptions::new(dir)).unwrap()
}

fn new_store() -> (tempfile::TempDir, FileStore) {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_in(&tmp.path().join("sessions"));
    (tmp, store)
}

fn raw(json: &str) -> RawJson {
    RawJson::from_string(json.to_string()).unwrap()
}

fn record_of(owner: Option<&str>) -> Record {
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
    record.data.insert("user".into(), raw("\"alice\""));
    record.owner = owner.map(str::to_string);
    record
}

/// A delta that keeps the record's deadlines and sets `key`.
fn setting(record: &Record, key: &str, json: &str) -> Delta {
    Delta {
        changed: vec![(key.into(), raw(json))],
        expires_at: record.expires_at,
        absolute_deadline: record.absolute_deadline,
        ..Delta::default()
    }
}

fn corrupt(store: &FileStore, id: &SessionId) {
    let path = store.path_of(id);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
}

fn keys(sessions: &[session_core::OwnerSession]) -> Vec<String> {
    let mut keys: Vec<String> = sessions
        .iter()
        .map(|session| session.handle.clone())
        .collect();
    keys.sort();
    keys
}

fn spawn_child(test: &str, role: &str, dir: &Path, index: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_ROLE, role)
        .env(CHILD_INDEX, index.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn child_dir(role: &str) -> Option<PathBuf> {
    (std::env::var(CHILD_ROLE).ok()? == role)
        .then(|| std::env::var(CHILD_DIR).ok().map(PathBuf::from))?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_passes_the_conformance_suite() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_in(&tmp.path().join("sessions"));
    let files = store.clone();
    Suite::new(Arc::new(store))
        .with_corrupter(move |id| {
            // What a full disk or a torn copy leaves: the file cut in half.
            let path = files.path_of(&id);
            async move {
                let bytes = std::fs::read(&path).unwrap();
                std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
            }
        })
        .run()
        .await;
}

#[tokio::test]
async fn regenerate_moves_the_stored_record_with_the_delta_on_top() {
    let (_tmp, store) = new_store();
    let record = record_of(None);
    store.create(&record).await.unwrap();
    // Another request's change reached the store after this one loaded the session.
    assert!(store
        .update(&record.id, &setting(&record, "cart", "[1]"))
        .await
        .unwrap());
    let new = SessionId::generate();
    let delta = setting(&record, "role", "\"admin\"");
    assert!(store.regenerate(&record.id, &new, &delta).await.unwrap());

    assert_eq!(store.load(&record.id).await.unwrap(), None);
    assert!(!store.path_of(&record.id).exists());
    let moved = store.load(&new).await.unwrap().unwrap();
    assert_eq!(moved.id, new);
    assert_eq!(moved.data["user"].get(), "\"alice\"");
    assert_eq!(
        moved.data["cart"].get(),
        "[1]",
        "the concurrent update survives"
    );
    assert_eq!(moved.data["role"].get(), "\"admin\"");
    assert_eq!(moved.created_at, record.created_at);
    assert_eq!(moved.version, 2);
    assert_eq!(store.count().await.unwrap(), 1);
}

#[tokio::test]
async fn regenerate_of_a_destroyed_session_writes_nothing() {
    let (_tmp, store) = new_store();
    let record = record_of(Some("alice"));
    store.create(&record).await.unwrap();
    store.delete(&record.id).await.unwrap();
    let new = SessionId::generate();
    let delta = setting(&record, "role", "\"admin\"");
    assert!(!store.regenerate(&record.id, &new, &delta).await.unwrap());
    assert_eq!(store.load(&new).await.unwrap(), None);
    assert!(!store.path_of(&new).exists());
    assert!(store.owner_sessions("alice").await.unwrap().is_empty());
    assert_eq!(store.count().await.unwrap(), 0);
}

#[tokio::test]
async fn regenerate_never_overwrites_a_live_session() {
    let (_tmp, store) = new_store();
    let (old, taken) = (record_of(None), record_of(Some("bob")));
    store.create(&old).await.unwrap();
    store.create(&taken).await.unwrap();
    let delta = setting(&old, "role", "\"admin\"");
    assert!(matches!(
        store.regenerate(&old.id, &taken.id, &delta).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(store.load(&old.id).await.unwrap(), Some(old));
    assert_eq!(store.load(&taken.id).await.unwrap(), Some(taken));
}

#[tokio::test]
async fn regenerate_may_replace_a_dead_file_under_the_new_name() {
    let (_tmp, store) = new_store();
    for kill in ["expire", "corrupt"] {
        let (old, mut dead) = (record_of(None), record_of(None));
        if kill == "expire" {
            dead.expires_at = 1;
        }
        store.create(&old).await.unwrap();
        store.create(&dead).await.unwrap();
        if kill == "corrupt" {
            corrupt(&store, &dead.id);
        }
        let delta = setting(&old, "n", "1");
        assert!(
            store.regenerate(&old.id, &dead.id, &delta).await.unwrap(),
            "{kill}"
        );
        let moved = store.load(&dead.id).await.unwrap().unwrap();
        assert_eq!(moved.data["n"].get(), "1", "{kill}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_old_id_never_shows_what_the_regenerate_added() {
    // Session fixation: whoever holds the old id must never load the logged-in record, not even
    // for the moment the move takes. A reader polls the old id throughout each move.
    let (_tmp, store) = new_store();
    for _ in 0..10 {
        let record = record_of(None);
        store.create(&record).await.unwrap();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (store, done, id) = (store.clone(), Arc::clone(&done), record.id);
            tokio::spawn(async move {
                let mut loads = 0;
                while !done.load(std::sync::atomic::Ordering::Acquire) || loads == 0 {
                    if let Some(seen) = store.load(&id).await.unwrap() {
                        assert!(
                            !seen.data.contains_key("role"),
                            "the old id loaded the regenerated record"
                        );
                    }
                    loads += 1;
                }
            })
        };
        let new = SessionId::generate();
        let delta = setting(&record, "role", "\"admin\"");
        assert!(store.regenerate(&record.id, &new, &delta).await.unwrap());
        done.store(true, std::sync::atomic::Ordering::Release);
        reader.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_regenerates_from_two_stores_leave_one_live_session() {
    let (_tmp, first) = new_store();
    let second = store_in(first.dir());
    for _ in 0..5 {
        let record = record_of(Some("alice"));
        first.create(&record).await.unwrap();
        let regenerate = |store: FileStore| {
            let delta = setting(&record, "n", "1");
            let old = record.id;
            tokio::spawn(async move {
                let new = SessionId::generate();
                (store.regenerate(&old, &new, &delta).await.unwrap(), new)
            })
        };
        let (a, b) = (regenerate(first.clone()), regenerate(second.clone()));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert!(a.0 ^ b.0, "exactly one regenerate may win: {} {}", a.0, b.0);
        let winner = if a.0 { a.1 } else { b.1 };
        let listed = first.owner_sessions("alice").await.unwrap();
        assert_eq!(keys(&listed), [winner.storage_key()]);
        assert_eq!(first.count().await.unwrap(), 1);
        first.delete(&winner).await.unwrap();
    }
}

#[tokio::test]
async fn the_owner_index_follows_create_update_regenerate_and_delete() {
    let (_tmp, store) = new_store();
    let (one, two, other) = (
        record_of(Some("alice")),
        record_of(Some("alice")),
        record_of(Some("bob")),
    );
    for record in [&one, &two, &other] {
        store.create(record).await.unwrap();
    }
    let listed = store.owner_sessions("alice").await.unwrap();
    assert_eq!(
        keys(&listed),
        keys(&[
            session_core::OwnerSession::of(one.id.storage_key(), &one),
            session_core::OwnerSession::of(two.id.storage_key(), &two),
        ])
    );
    let entry = listed
        .iter()
        .find(|s| s.handle == one.id.storage_key())
        .unwrap();
    assert_eq!(
        (entry.created_at, entry.expires_at),
        (one.created_at, one.expires_at)
    );

    // Rebinding by update: two moves from alice to bob.
    let rebind = Delta {
        owner: Some(Some("bob".into())),
        ..setting(&two, "n", "1")
    };
    assert!(store.update(&two.id, &rebind).await.unwrap());
    assert_eq!(
        keys(&store.owner_sessions("alice").await.unwrap()),
        [one.id.storage_key()]
    );
    assert_eq!(store.owner_sessions("bob").await.unwrap().len(), 2);

    // Regenerate keeps the owner unless the delta rebinds it.
    let moved = SessionId::generate();
    assert!(store
        .regenerate(&one.id, &moved, &setting(&one, "n", "2"))
        .await
        .unwrap());
    assert_eq!(
        keys(&store.owner_sessions("alice").await.unwrap()),
        [moved.storage_key()]
    );
    let again = SessionId::generate();
    let to_carol = Delta {
        owner: Some(Some("carol".into())),
        ..setting(&one, "n", "3")
    };
    assert!(store.regenerate(&moved, &again, &to_carol).await.unwrap());
    assert!(store.owner_sessions("alice").await.unwrap().is_empty());
    assert_eq!(
        keys(&store.owner_sessions("carol").await.unwrap()),
        [again.storage_key()]
    );

    // Unbinding, then deleting.
    let unbind = Delta {
        owner: Some(None),
        ..setting(&one, "n", "4")
    };
    assert!(store.update(&again, &unbind).await.unwrap());
    assert!(store.owner_sessions("carol").await.unwrap().is_empty());
    store.delete(&other.id).await.unwrap();
    assert_eq!(
        keys(&store.owner_sessions("bob").await.unwrap()),
        [two.id.storage_key()]
    );
    assert_eq!(store.count().await.unwrap(), 2);
}

#[tokio::test]
async fn delete_owner_ends_every_live_session_of_that_owner_only() {
    let (_tmp, store) = new_store();
    let mine: Vec<Record> = (0..3).map(|_| record_of(Some("alice"))).collect();
    let mut expired = record_of(Some("alice"));
    expired.expires_at = 1;
    let (theirs, anonymous) = (record_of(Some("alice2")), record_of(None));
    for record in mine.iter().chain([&expired, &theirs, &anonymous]) {
        store.create(record).await.unwrap();
    }
    assert_eq!(
        store.owner_sessions("alice").await.unwrap().len(),
        3,
        "expired is not listed"
    );
    assert_eq!(store.delete_owner("alice", None).await.unwrap(), 3);
    for record in &mine {
        assert_eq!(store.load(&record.id).await.unwrap(), None);
    }
    assert!(store.owner_sessions("alice").await.unwrap().is_empty());
    assert_eq!(store.delete_owner("alice", None).await.unwrap(), 0);
    assert!(store.exists(&theirs.id).await.unwrap());
    assert!(store.exists(&anonymous.id).await.unwrap());
    assert_eq!(store.count().await.unwrap(), 2);
}

#[tokio::test]
async fn owners_are_any_string_and_listings_hold_no_ids() {
    let (_tmp, store) = new_store();
    for owner in [
        "../../etc/passwd",
        "",
        "ünïcødé",
        &"x".repeat(5_000),
        "a/b\\c\0d",
    ] {
        let record = record_of(Some(owner));
        store.create(&record).await.unwrap();
        let listed = store.owner_sessions(owner).await.unwrap();
        assert_eq!(keys(&listed), [record.id.storage_key()], "{owner:?}");
        assert_ne!(listed[0].handle, record.id.to_string());
        assert_eq!(
            store.delete_owner(owner, None).await.unwrap(),
            1,
            "{owner:?}"
        );
    }
    assert_eq!(store.count().await.unwrap(), 0);
}

#[tokio::test]
async fn count_and_exists_see_live_sessions_only() {
    let (_tmp, store) = new_store();
    let (live, mut expired, broken) = (record_of(None), record_of(None), record_of(None));
    expired.expires_at = 1;
    for record in [&live, &expired, &broken] {
        store.create(record).await.unwrap();
    }
    corrupt(&store, &broken.id);
    assert_eq!(store.count().await.unwrap(), 1);
    assert!(store.exists(&live.id).await.unwrap());
    assert!(!store.exists(&expired.id).await.unwrap());
    assert!(
        !store.exists(&broken.id).await.unwrap(),
        "a corrupt record is no session"
    );
    assert!(!store.exists(&SessionId::generate()).await.unwrap());
}

#[tokio::test]
async fn an_unreadable_entry_is_skipped_by_count_and_cleanup() {
    let (_tmp, store) = new_store();
    let (live, mut expired) = (record_of(None), record_of(None));
    expired.expires_at = 1;
    for record in [&live, &expired] {
        store.create(record).await.unwrap();
    }
    // A directory where a session file would be, beside the expired session's file.
    let odd = store.path_of(&SessionId::generate());
    std::fs::create_dir_all(&odd).unwrap();
    let odd_beside_expired = store
        .path_of(&expired.id)
        .with_file_name(odd.file_name().unwrap());
    std::fs::create_dir_all(&odd_beside_expired).unwrap();

    assert_eq!(store.count().await.unwrap(), 1);
    let cleanup = store.cleanup().unwrap();
    assert_eq!(cleanup.delete_expired().await.unwrap(), 1);
    assert!(!store.path_of(&expired.id).exists());
    assert!(store.exists(&live.id).await.unwrap());
    assert!(odd.is_dir() && odd_beside_expired.is_dir());
}

#[tokio::test]
async fn count_of_a_store_whose_directory_is_missing_is_an_error() {
    let (tmp, store) = new_store();
    store.create(&record_of(None)).await.unwrap();
    std::fs::remove_dir_all(tmp.path().join("sessions")).unwrap();
    let error = store.count().await.unwrap_err();
    assert!(
        matches!(error, session_core::StoreError::Backend(_))
            && error.to_string().contains("sessions"),
        "{error}"
    );
}

#[tokio::test]
async fn a_record_that_does_not_decode_is_corrupt_not_an_outage() {
    let (_tmp, store) = new_store();
    let record = record_of(Some("alice"));
    store.create(&record).await.unwrap();
    corrupt(&store, &record.id);
    let delta = setting(&record, "n", "1");
    assert!(matches!(
        store.load(&record.id).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.update(&record.id, &delta).await,
        Err(StoreError::Corrupt(_))
    ));
    let new = SessionId::generate();
    assert!(matches!(
        store.regenerate(&record.id, &new, &delta).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(!store.path_of(&new).exists());
    assert!(store.owner_sessions("alice").await.unwrap().is_empty());
    // Cleanup takes it away; a new session may then use the name.
    assert_eq!(store.delete_expired().await.unwrap(), 1);
    assert_eq!(store.load(&record.id).await.unwrap(), None);
    store.create(&record).await.unwrap();
    assert_eq!(store.load(&record.id).await.unwrap(), Some(record));
}

/// In a child process: applies deltas setting its own keys of the shared session.
#[tokio::test]
async fn child_process_delta_writer() {
    let Some(dir) = child_dir("deltas") else {
        return;
    };
    let index: usize = std::env::var(CHILD_INDEX).unwrap().parse().unwrap();
    let store = store_in(&dir);
    let id = SessionId::from_bytes([7; 32]);
    let record = store.load(&id).await.unwrap().unwrap();
    for n in 0..UPDATES_PER_PROCESS {
        let delta = setting(&record, &format!("p{index}k{n}"), &n.to_string());
        assert!(store.update(&id, &delta).await.unwrap());
    }
    println!("done");
}

#[tokio::test]
async fn processes_sharing_a_directory_lose_no_updates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sessions");
    let store = store_in(&dir);
    let record = Record::new(SessionId::from_bytes([7; 32]), &Expiry::default(), now_ms());
    store.create(&record).await.unwrap();

    let children: Vec<Child> = (0..PROCESSES)
        .map(|index| spawn_child("child_process_delta_writer", "deltas", &dir, index))
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a writer process failed");
    }

    let loaded = store.load(&record.id).await.unwrap().unwrap();
    let missing: Vec<String> = (0..PROCESSES)
        .flat_map(|p| (0..UPDATES_PER_PROCESS).map(move |n| format!("p{p}k{n}")))
        .filter(|key| !loaded.data.contains_key(key.as_str()))
        .collect();
    assert!(missing.is_empty(), "lost updates: {missing:?}");
    assert_eq!(loaded.version, (PROCESSES * UPDATES_PER_PROCESS) as u64);
}

#[tokio::test]
async fn the_registry_builds_a_file_store_from_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("from-config");
    session_stores::testing::configured_session_write(&format!(
        "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"app\" }}\nstore = {{ type = \"file\", dir = {:?} }}\n",
        dir.to_str().unwrap()
    ))
    .await
    .unwrap();
    assert!(dir.is_dir());
}

#[tokio::test]
async fn an_anonymous_flood_leaves_room_for_logins_and_the_bound_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::new(FileOptions {
        max_sessions: 100,
        ..FileOptions::new(tmp.path().join("sessions"))
    })
    .unwrap();
    let users: Vec<Record> = (0..20)
        .map(|n| record_of(Some(&format!("user{n}"))))
        .collect();
    for user in &users {
        store.create(user).await.unwrap();
    }
    for _ in 0..300 {
        // Past nine tenths of the bound, an anonymous session is not written, without an error.
        store.create(&record_of(None)).await.unwrap();
    }
    assert_eq!(store.count().await.unwrap(), 90);
    for user in &users {
        assert!(store.exists(&user.id).await.unwrap(), "a user was lost");
    }

    // Logins still get in, up to the bound itself, and then get an error that says what to do.
    for n in 0..10 {
        store
            .create(&record_of(Some(&format!("late{n}"))))
            .await
            .unwrap();
    }
    let error = store
        .create(&record_of(Some("one too many")))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("max_sessions"), "{error}");
    assert_eq!(store.count().await.unwrap(), 100);

    // A cleanup pass counts again what the directory holds: room comes back as sessions go.
    for user in &users {
        store.delete(&user.id).await.unwrap();
    }
    store.cleanup().unwrap().delete_expired().await.unwrap();
    let anonymous = record_of(None);
    store.create(&anonymous).await.unwrap();
    assert!(store.exists(&anonymous.id).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regenerate_during_delete_owner_does_not_carry_a_session_out_of_reach() {
    let (_tmp, store) = new_store();
    Suite::new(Arc::new(store))
        .delete_owner_outruns_regenerates(30, 3)
        .await;
}
