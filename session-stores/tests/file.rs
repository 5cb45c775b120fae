//! The file store against the conformance suite, and against writers killed mid-write and
//! several processes sharing one directory.
//!
//! The last two re-run this test binary as a child process (selected with an environment
//! variable), so they need no helper binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use session_core::RawJson;
use session_core::{now_ms, Delta, Expiry, Record, SessionId, Store};
use session_stores::file::{FileOptions, FileStore};

/// Set in a child process: the directory to write to, and what to do.
const CHILD_DIR: &str = "SESSION_STORES_TEST_CHILD_DIR";
const CHILD_ROLE: &str = "SESSION_STORES_TEST_CHILD_ROLE";
const CHILD_INDEX: &str = "SESSION_STORES_TEST_CHILD_INDEX";

const CRASH_SESSIONS: u8 = 6;
const PROCESSES: usize = 4;
const UPDATES_PER_PROCESS: usize = 25;

fn store_in(dir: &Path) -> FileStore {
    FileStore::new(FileOptions::new(dir)).unwrap()
}

fn raw(json: String) -> RawJson {
    RawJson::from_string(json).unwrap()
}

/// The session the crash writer keeps rewriting: its blob is determined by its round.
fn crash_record(n: u8, round: u64) -> Record {
    let mut record = Record::new(SessionId::from_bytes([n; 32]), &Expiry::default(), now_ms());
    record.data.insert("round".into(), raw(round.to_string()));
    record
        .data
        .insert("blob".into(), raw(format!("\"{}\"", blob(round))));
    record
}

fn blob(round: u64) -> String {
    let letter = char::from(b'a' + (round % 26) as u8);
    letter
        .to_string()
        .repeat(256 * 1024 + (round as usize % 1000))
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
    session_stores::conformance::run(Arc::new(store_in(&tmp.path().join("sessions")))).await;
}

/// In a child process: rewrites the crash sessions (whole saves and deltas) until killed.
/// Does nothing in a normal test run.
#[tokio::test]
async fn child_process_crash_writer() {
    let Some(dir) = child_dir("crash") else {
        return;
    };
    let store = store_in(&dir);
    for round in 0.. {
        for n in 0..CRASH_SESSIONS {
            store.save(&crash_record(n, round)).await.unwrap();
        }
        // And one delta per round, which rewrites the file the same way.
        let record = crash_record((round % u64::from(CRASH_SESSIONS)) as u8, round);
        let delta = Delta {
            changed: vec![
                ("round".into(), raw((round + 1).to_string())),
                ("blob".into(), raw(format!("\"{}\"", blob(round + 1)))),
            ],
            removed: Vec::new(),
            expires_at: record.expires_at,
            absolute_deadline: record.absolute_deadline,
            expiry: None,
        };
        assert!(store.update(&record.id, &delta).await.unwrap());
        println!("round {round} written");
    }
}

#[test]
fn a_writer_killed_mid_write_leaves_only_whole_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sessions");
    for attempt in 0..8 {
        let mut child = spawn_child("child_process_crash_writer", "crash", &dir, attempt);
        let stdout = BufReader::new(child.stdout.take().unwrap());
        // Let it complete a few rounds, then SIGKILL it wherever it is.
        let target = format!("round {} written", 1 + attempt % 3);
        for line in stdout.lines() {
            if line.unwrap() == target {
                break;
            }
        }
        // Vary where in its work the writer is hit (this is not a timing assertion).
        std::thread::sleep(std::time::Duration::from_micros(700 * attempt as u64));
        child.kill().unwrap();
        child.wait().unwrap();

        let runtime = tokio::runtime::Runtime::new().unwrap();
        let store = store_in(&dir);
        for n in 0..CRASH_SESSIONS {
            let id = SessionId::from_bytes([n; 32]);
            let record = runtime
                .block_on(store.load(&id))
                .unwrap_or_else(|error| panic!("session {n} does not load after a crash: {error}"))
                .unwrap_or_else(|| panic!("session {n} is gone after a crash"));
            let round: u64 = serde_json::from_str(record.data["round"].get()).unwrap();
            assert_eq!(
                record.data["blob"].get(),
                format!("\"{}\"", blob(round)),
                "session {n} mixes two writes"
            );
        }
    }
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
        let delta = Delta {
            changed: vec![(format!("p{index}k{n}"), raw(n.to_string()))],
            removed: Vec::new(),
            expires_at: record.expires_at,
            absolute_deadline: record.absolute_deadline,
            expiry: None,
        };
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
        .filter(|key| !loaded.data.contains_key(key))
        .collect();
    assert!(missing.is_empty(), "lost updates: {missing:?}");
    assert_eq!(loaded.version, (PROCESSES * UPDATES_PER_PROCESS) as u64);
}

#[tokio::test]
async fn the_registry_builds_a_file_store_from_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("from-config");
    let config = session_core::SessionsConfig::from_toml(&format!(
        "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"app\" }}\nstore = {{ type = \"file\", dir = {:?} }}\n",
        dir.to_str().unwrap()
    ))
    .unwrap();
    let manager = session_core::SessionManager::from_config(
        &config,
        &session_stores::registry(),
        session_core::KeyRing::generate(),
    )
    .await
    .unwrap();
    let request = manager.request(None, |_| None);
    request
        .default_session()
        .await
        .unwrap()
        .insert("user", "alice")
        .unwrap();
    request.finish().await.unwrap();
    assert!(dir.is_dir());
}
