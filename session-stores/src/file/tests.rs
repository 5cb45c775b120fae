//! The file store's layout, permissions, crash leftovers and locking; the contract itself is
//! checked through the public API in `tests/file.rs`.

use std::time::SystemTime;

use session_core::{Expiry, RawJson};

use super::disk::LOCK_FILE;
use super::*;
use crate::fixtures::keeping;

fn store() -> (tempfile::TempDir, FileStore) {
    store_with(|_| ())
}

/// A new store in a new directory, of the default options changed by `change`.
fn store_with(change: impl FnOnce(&mut FileOptions)) -> (tempfile::TempDir, FileStore) {
    let tmp = tempfile::tempdir().unwrap();
    let mut options = FileOptions::new(tmp.path().join("sessions"));
    change(&mut options);
    (tmp, FileStore::new(options).unwrap())
}

fn record() -> Record {
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
    record.data.insert(
        "user".into(),
        RawJson::from_string("\"alice\"".into()).unwrap(),
    );
    record
}

/// A new store holding one new [`record`], bound to `owner` when there is one.
async fn store_holding(owner: Option<&str>) -> (tempfile::TempDir, FileStore, Record) {
    let (tmp, store) = store();
    let mut record = record();
    record.owner = owner.map(str::to_string);
    store.create(&record).await.unwrap();
    (tmp, store, record)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = disk::list(dir)
        .unwrap()
        .into_iter()
        .map(|entry| entry.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// An id whose session file lands in the shard directory `shard`.
fn id_in_shard(store: &FileStore, shard: &Path) -> SessionId {
    loop {
        let id = SessionId::generate();
        if store.path_of(&id).parent() == Some(shard) {
            return id;
        }
    }
}

#[tokio::test]
async fn sessions_live_in_two_levels_of_shard_directories() {
    let (_tmp, store, record) = store_holding(None).await;
    let key = record.id.storage_key();
    let expected = store.dir().join(&key[..1]).join(&key[1..2]).join(&key);
    assert_eq!(store.path_of(&record.id), expected);
    assert!(expected.is_file());
}

#[tokio::test]
async fn file_names_and_contents_are_hashes_not_ids() {
    let (_tmp, store, record) = store_holding(None).await;
    let id = record.id.to_string();
    let path = store.path_of(&record.id);
    let name = path.file_name().unwrap().to_str().unwrap();
    assert_eq!(name, record.id.storage_key());
    assert_ne!(name, id);
    let content = fs::read_to_string(&path).unwrap();
    assert!(
        !content.contains(&id),
        "the file must not contain the session id"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_0600_and_directories_0700() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, store, record) = store_holding(Some("alice")).await;
    store.update(&record.id, &keeping(&record)).await.unwrap();
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let file = store.path_of(&record.id);
    let shard = file.parent().unwrap();
    assert_eq!(mode(&file), 0o600, "session file");
    assert_eq!(mode(&shard.join(LOCK_FILE)), 0o600, "lock file");
    assert_eq!(mode(shard), 0o700, "shard directory");
    assert_eq!(
        mode(shard.parent().unwrap()),
        0o700,
        "outer shard directory"
    );
    assert_eq!(mode(store.dir()), 0o700, "session directory");
    let owner = index::owner_dir(store.dir(), "alice");
    assert_eq!(
        mode(&owner.join(record.id.storage_key())),
        0o600,
        "index entry"
    );
    assert_eq!(mode(&owner), 0o700, "owner directory");
    assert_eq!(mode(owner.parent().unwrap()), 0o700, "index bucket");
    assert_eq!(mode(&store.dir().join(index::INDEX_DIR)), 0o700, "index");
}

#[tokio::test]
async fn writes_leave_no_temporary_files() {
    let (_tmp, store, record) = store_holding(None).await;
    store.update(&record.id, &keeping(&record)).await.unwrap();
    assert!(matches!(
        store.create(&record).await,
        Err(StoreError::AlreadyExists)
    ));
    let shard = store.path_of(&record.id).parent().unwrap().to_path_buf();
    let moved = id_in_shard(&store, &shard);
    assert!(store
        .regenerate(&record.id, &moved, &keeping(&record))
        .await
        .unwrap());
    // Sorted on both sides: a storage key may sort before the lock file (`-` < `.`).
    let mut expected = [LOCK_FILE.to_string(), moved.storage_key()];
    expected.sort();
    assert_eq!(names_in(&shard), expected);
}

#[tokio::test]
async fn cleanup_removes_leftover_temporary_files_whatever_their_age() {
    let (_tmp, store, record) = store_holding(None).await;
    let shard = store.path_of(&record.id).parent().unwrap().to_path_buf();
    let leftover = shard.join(format!(".{}.1.0.tmp", record.id.storage_key()));
    fs::write(&leftover, b"{\"d\":").unwrap();
    // Brand new: under the shard lock no writer can still be using it.
    File::options()
        .write(true)
        .open(&leftover)
        .unwrap()
        .set_modified(SystemTime::now())
        .unwrap();
    assert_eq!(store.delete_expired().await.unwrap(), 0, "not a session");
    assert!(!leftover.exists());
    assert!(store.load(&record.id).await.unwrap().is_some());
}

#[tokio::test]
async fn cleanup_removes_files_that_do_not_decode() {
    let (_tmp, store) = store();
    let (truncated, live) = (record(), record());
    store.create(&truncated).await.unwrap();
    store.create(&live).await.unwrap();
    let path = store.path_of(&truncated.id);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(store.delete_expired().await.unwrap(), 1);
    assert!(!path.exists(), "a truncated session file must go");
    assert!(store.load(&live.id).await.unwrap().is_some());
    assert_eq!(store.delete_expired().await.unwrap(), 0);
}

#[tokio::test]
async fn cleanup_removes_expired_files_and_their_index_entries() {
    let (_tmp, store) = store();
    let mut expired = record();
    expired.owner = Some("alice".into());
    expired.expires_at = now_ms() + 50;
    store.create(&expired).await.unwrap();
    let entry = index::owner_dir(store.dir(), "alice").join(expired.id.storage_key());
    assert!(entry.exists());
    while !expired.is_expired(now_ms()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.delete_expired().await.unwrap(), 1);
    assert!(!store.path_of(&expired.id).exists());
    assert!(!entry.exists());
    assert!(!index::owner_dir(store.dir(), "alice").exists());
}

#[tokio::test]
async fn an_extra_index_entry_is_pruned_when_read() {
    let (_tmp, store, record) = store_holding(Some("alice")).await;
    // What a writer killed between adding the entry and writing the session leaves.
    let ghost = SessionId::generate().storage_key();
    index::add(store.dir(), "alice", &ghost).unwrap();
    let owner_dir = index::owner_dir(store.dir(), "alice");
    assert_eq!(names_in(&owner_dir).len(), 2);
    let listed = store.owner_sessions("alice").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].handle, record.id.storage_key());
    assert_eq!(names_in(&owner_dir), [record.id.storage_key()]);
}

#[tokio::test]
async fn a_rebound_session_leaves_its_old_owners_directory() {
    let (_tmp, store, record) = store_holding(Some("alice")).await;
    let delta = Delta {
        owner: Some(Some("bob".into())),
        ..keeping(&record)
    };
    assert!(store.update(&record.id, &delta).await.unwrap());
    assert!(!index::owner_dir(store.dir(), "alice").exists());
    assert_eq!(
        names_in(&index::owner_dir(store.dir(), "bob")),
        [record.id.storage_key()]
    );
}

#[tokio::test]
async fn two_stores_on_one_directory_lose_no_updates() {
    // Separate instances share no in-process lock: only the file lock keeps this correct.
    let (_tmp, first) = store();
    let second = FileStore::new(FileOptions::new(first.dir())).unwrap();
    let record = record();
    first.create(&record).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let store = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let delta = Delta {
                changed: vec![(
                    format!("k{n}").into(),
                    RawJson::from_string(n.to_string()).unwrap(),
                )],
                ..keeping(&record)
            };
            tokio::spawn(async move { store.update(&record.id, &delta).await.unwrap() })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
    let loaded = second.load(&record.id).await.unwrap().unwrap();
    assert_eq!(loaded.data.len(), 41);
    assert_eq!(loaded.version, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crossing_regenerates_of_two_stores_do_not_deadlock() {
    // Pairs of sessions in shards X and Y: half the regenerates move X -> Y, half Y -> X, from
    // two instances (so both the in-process and the file locks are crossed).
    let (_tmp, first) = store();
    let second = FileStore::new(FileOptions::new(first.dir())).unwrap();
    let x = first
        .path_of(&SessionId::generate())
        .parent()
        .unwrap()
        .to_path_buf();
    let y = loop {
        let shard = first
            .path_of(&SessionId::generate())
            .parent()
            .unwrap()
            .to_path_buf();
        if shard != x {
            break shard;
        }
    };
    let mut tasks = Vec::new();
    for n in 0..8 {
        let (from, to) = if n % 2 == 0 { (&x, &y) } else { (&y, &x) };
        let (old, new) = (id_in_shard(&first, from), id_in_shard(&first, to));
        let record = Record {
            id: old,
            ..record()
        };
        first.create(&record).await.unwrap();
        let store = if n % 3 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .regenerate(&old, &new, &keeping(&record))
                .await
                .unwrap()
        }));
    }
    let all = async {
        for task in tasks {
            assert!(task.await.unwrap());
        }
    };
    // A guard against hanging forever, not a timing assertion: this takes milliseconds.
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("regenerates deadlocked");
    assert_eq!(first.count().await.unwrap(), 8);
}

#[test]
fn a_file_in_place_of_the_directory_is_an_error_that_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("taken");
    fs::write(&path, b"").unwrap();
    let error = FileStore::new(FileOptions::new(&path)).unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)));
    let message = std::error::Error::source(&error).unwrap().to_string();
    assert!(message.contains("taken"), "{message}");
}

#[test]
fn the_cleanup_interval_comes_from_the_options() {
    let tmp = tempfile::tempdir().unwrap();
    let options = |secs| FileOptions {
        cleanup_interval_secs: secs,
        ..FileOptions::new(tmp.path().join("sessions"))
    };
    let store = FileStore::new(options(30)).unwrap();
    assert_eq!(store.cleanup_interval(), Some(Duration::from_secs(30)));
    let cleanup = Store::cleanup(&store).expect("the file store cleans up");
    assert_eq!(cleanup.interval(), Duration::from_secs(30));
    let off = FileStore::new(options(0)).unwrap();
    assert_eq!(off.cleanup_interval(), None);
    assert!(
        Store::cleanup(&off).is_none(),
        "0 opts out of the manager's cleanup"
    );
    let default = FileStore::new(FileOptions::new(tmp.path().join("sessions"))).unwrap();
    assert_eq!(default.cleanup_interval(), Some(Duration::from_secs(600)));
}

#[tokio::test]
async fn no_cleanup_loop_runs_when_it_is_turned_off() {
    let (_tmp, store) = store_with(|options| options.cleanup_interval_secs = 0);
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    assert!(session_core::spawn_cleanup(&shared).is_none());
    let mut expired = record();
    expired.expires_at = 1;
    store.create(&expired).await.unwrap();
    // Still removable by hand.
    assert_eq!(store.delete_expired().await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_cores_cleanup_loop_removes_expired_files() {
    let (_tmp, store) = store_with(|options| options.cleanup_interval_secs = 30);
    let live = record();
    let mut expired = record();
    expired.expires_at = 1;
    store.create(&live).await.unwrap();
    store.create(&expired).await.unwrap();
    let expired_path = store.path_of(&expired.id);
    assert!(expired_path.exists());
    let interval = store.cleanup_interval().unwrap();
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    // The manager does this for every server-side store it is built with.
    let task = session_core::spawn_cleanup(&shared).expect("the file store cleans up");

    // The clock is paused: each sleep moves it forward at once, letting the task run.
    for _ in 0..50 {
        if !expired_path.exists() {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    assert!(!expired_path.exists(), "the cleanup loop did not run");
    assert!(store.path_of(&live.id).exists());
    task.abort();
}
