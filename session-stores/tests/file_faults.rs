//! The file store under faults, with real processes and a real filesystem:
//!
//! - **kill -9 under write load**: a child process (this test binary re-run with an environment
//!   variable) updates counters and moves a session to a new id in a loop, printing each
//!   acknowledged write; the parent SIGKILLs it at random points, several times. A fresh store
//!   on the directory must then hold every acknowledged write, no counter may have gone
//!   backwards, the moved session must be live under exactly one id, the owner index must list
//!   exactly the live sessions, and cleanup must leave no temporary file behind.
//! - **disk full**: as root, a 1 MiB tmpfs is mounted and filled. Writes must fail with a typed
//!   backend error naming a full disk, every file present must decode, and service must resume
//!   once space returns. Without root (or without the right to mount), it is skipped with a
//!   message.
//!
//! Each test enforces its own time limit (a guard against hanging, not a timing assertion).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use session_core::{now_ms, Cleanup, Delta, Expiry, RawJson, Record, SessionId, Store, StoreError};
use session_stores::file::{FileOptions, FileStore, FileStoreError};

const CHILD_DIR: &str = "SESSION_STORES_FAULT_CHILD_DIR";
/// Set for the first child, which creates the sessions.
const CHILD_FIRST: &str = "SESSION_STORES_FAULT_CHILD_FIRST";
/// Sessions the child keeps counting in.
const COUNTERS: u8 = 4;
const OWNER: &str = "writer";
const KILLS: usize = 8;
/// The longest a fault test may run before it gives up.
const TIME_LIMIT: Duration = Duration::from_secs(60);

fn store_in(dir: &Path) -> FileStore {
    FileStore::new(FileOptions::new(dir)).unwrap()
}

fn raw(json: String) -> RawJson {
    RawJson::from_string(json).unwrap()
}

fn counter_id(n: u8) -> SessionId {
    SessionId::from_bytes([n + 1; 32])
}

/// The id the moving session has after `generation` regenerates.
fn mover_id(generation: u32) -> SessionId {
    let mut bytes = [0xEE; 32];
    bytes[..4].copy_from_slice(&generation.to_be_bytes());
    SessionId::from_bytes(bytes)
}

/// A value as big as a real session's, determined by the counter, so a torn or mixed write shows.
fn blob(counter: u64) -> String {
    let letter = char::from(b'a' + (counter % 26) as u8);
    format!(
        "\"{}\"",
        letter
            .to_string()
            .repeat(48 * 1024 + (counter % 1000) as usize)
    )
}

fn counting(record: &Record, counter: u64) -> Delta {
    Delta {
        changed: vec![
            ("counter".into(), raw(counter.to_string())),
            ("blob".into(), raw(blob(counter))),
        ],
        expires_at: now_ms() + 3_600_000,
        absolute_deadline: record.absolute_deadline,
        ..Delta::default()
    }
}

/// The counter a record holds, after checking its blob belongs to it.
fn counter_of(record: &Record) -> u64 {
    let counter: u64 = serde_json::from_str(record.data["counter"].get()).unwrap();
    assert_eq!(
        record.data["blob"].get(),
        blob(counter),
        "a record mixes two writes"
    );
    counter
}

fn new_record(id: SessionId) -> Record {
    let mut record = Record::new(id, &Expiry::default(), now_ms());
    record.owner = Some(OWNER.into());
    record.data.insert("counter".into(), raw("0".into()));
    record.data.insert("blob".into(), raw(blob(0)));
    record
}

/// In a child process: counts and moves until killed, printing every acknowledged write.
/// Does nothing in a normal test run.
#[tokio::test]
async fn child_process_counter_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR).map(PathBuf::from) else {
        return;
    };
    let store = store_in(&dir);
    let mut counters = Vec::new();
    for n in 0..COUNTERS {
        let record = match store.load(&counter_id(n)).await.unwrap() {
            Some(record) => record,
            None => {
                let record = new_record(counter_id(n));
                store.create(&record).await.unwrap();
                record
            }
        };
        counters.push((counter_of(&record), record));
    }
    // The moving session lives under one generation's id: start it, or find it.
    let mut generation = 0;
    let mut mover = if std::env::var_os(CHILD_FIRST).is_some() {
        let record = new_record(mover_id(0));
        store.create(&record).await.unwrap();
        record
    } else {
        loop {
            if let Some(record) = store.load(&mover_id(generation)).await.unwrap() {
                break record;
            }
            generation += 1;
            assert!(generation < 100_000, "the moving session is lost");
        }
    };
    let mut moved = counter_of(&mover);
    println!("moved {generation} {moved}");
    loop {
        for (n, (counter, record)) in counters.iter_mut().enumerate() {
            *counter += 1;
            assert!(store
                .update(&record.id, &counting(record, *counter))
                .await
                .unwrap());
            println!("ack {n} {counter}");
        }
        moved += 1;
        let delta = counting(&mover, moved);
        let (old, new) = (mover_id(generation), mover_id(generation + 1));
        assert!(store.regenerate(&old, &new, &delta).await.unwrap());
        generation += 1;
        mover.id = new;
        println!("moved {generation} {moved}");
    }
}

/// A small xorshift generator: the test prints its seed, so a failing run can be repeated.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// What the parent has seen acknowledged, per session.
#[derive(Default)]
struct Acknowledged {
    counters: BTreeMap<u8, u64>,
    /// The moving session's generation and counter.
    moved: (u32, u64),
}

impl Acknowledged {
    /// Records one line of the child's output; whether it was an acknowledgement.
    ///
    /// An acknowledgement is the line's last three words: the test harness prints
    /// `test child_process_counter_writer ... ` without a newline before the child's first line.
    fn note(&mut self, line: &str) -> bool {
        let words: Vec<&str> = line.split(' ').collect();
        match words[words.len().saturating_sub(3)..] {
            ["ack", n, counter] => {
                let (n, counter) = (n.parse().unwrap(), counter.parse().unwrap());
                let seen = self.counters.entry(n).or_default();
                assert!(counter > *seen || counter == 0, "the child went backwards");
                *seen = counter;
                true
            }
            ["moved", generation, counter] => {
                self.moved = (generation.parse().unwrap(), counter.parse().unwrap());
                true
            }
            _ => false,
        }
    }
}

#[test]
fn the_first_acknowledgement_counts_after_the_harness_header() {
    let mut acknowledged = Acknowledged::default();
    assert!(acknowledged.note("test child_process_counter_writer ... moved 7 3"));
    assert_eq!(acknowledged.moved, (7, 3));
    assert!(acknowledged.note("ack 2 9"));
    assert_eq!(acknowledged.counters[&2], 9);
    assert!(!acknowledged.note("running 1 test"));
    assert!(!acknowledged.note(""));
}

fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_str().unwrap().ends_with(".tmp") {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_under_load_loses_no_acknowledged_write() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sessions");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill -9 test seed: {seed}");
    let mut random = Random(seed);
    let mut acknowledged = Acknowledged::default();
    let mut last_seen: BTreeMap<u8, u64> = BTreeMap::new();

    for kill in 0..KILLS {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["child_process_counter_writer", "--exact", "--nocapture"])
            .args(["--test-threads=1"])
            .env(CHILD_DIR, &dir)
            .stdout(Stdio::piped());
        if kill == 0 {
            command.env(CHILD_FIRST, "1");
        }
        let mut child = command.spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (lines, received) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in stdout.lines() {
                if lines.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        // Let it acknowledge a random number of writes, then SIGKILL it wherever it is.
        let target = 1 + random.below(3 * u64::from(COUNTERS));
        let mut acks = 0;
        while acks < target {
            let left = TIME_LIMIT.saturating_sub(started.elapsed());
            let Ok(line) = received.recv_timeout(left) else {
                let _ = child.kill();
                panic!("the writer stopped acknowledging (kill {kill}, {acks} acks)");
            };
            if acknowledged.note(&line) {
                acks += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(random.below(20_000)));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the writer ended by itself: {status}");
        #[cfg(unix)]
        {
            // Killed by us, not failed on its own (its panic would hide a lost session).
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "the writer failed: {status}");
        }
        // What it printed before dying was acknowledged too.
        reader.join().unwrap();
        for line in received.try_iter() {
            acknowledged.note(&line);
        }

        let store = store_in(&dir);
        for n in 0..COUNTERS {
            let record = store
                .load(&counter_id(n))
                .await
                .unwrap_or_else(|error| {
                    panic!("counter {n} does not load after kill {kill}: {error}")
                })
                .unwrap_or_else(|| panic!("counter {n} is gone after kill {kill}"));
            let counter = counter_of(&record);
            let acked = acknowledged.counters.get(&n).copied().unwrap_or(0);
            assert!(
                counter >= acked,
                "counter {n} lost an acknowledged write: {counter} < {acked}"
            );
            let seen = last_seen.entry(n).or_default();
            assert!(
                counter >= *seen,
                "counter {n} went backwards: {counter} < {seen}"
            );
            *seen = counter;
        }
        let (generation, moved) = acknowledged.moved;
        let live: Vec<u32> = {
            let mut live = Vec::new();
            for candidate in 0..=generation + 1 {
                if store.exists(&mover_id(candidate)).await.unwrap() {
                    live.push(candidate);
                }
            }
            live
        };
        assert_eq!(
            live.len(),
            1,
            "the moved session is live under {live:?} after kill {kill}"
        );
        assert!(
            live[0] >= generation,
            "an acknowledged regenerate was undone"
        );
        let record = store.load(&mover_id(live[0])).await.unwrap().unwrap();
        assert!(
            counter_of(&record) >= moved,
            "the moved session lost a write"
        );

        let listed = session_stores::testing::owner_keys(&store, OWNER)
            .await
            .unwrap();
        let mut expected: Vec<String> = (0..COUNTERS)
            .map(|n| counter_id(n).storage_key())
            .chain([mover_id(live[0]).storage_key()])
            .collect();
        expected.sort();
        assert_eq!(listed, expected, "the owner index after kill {kill}");
    }

    let leftovers = temporary_files(&dir).len();
    let store = store_in(&dir);
    assert_eq!(store.delete_expired().await.unwrap(), 0, "nothing was dead");
    assert_eq!(
        temporary_files(&dir),
        Vec::<PathBuf>::new(),
        "cleanup leaves no temporary file"
    );
    assert_eq!(store.count().await.unwrap(), u64::from(COUNTERS) + 1);
    println!(
        "{KILLS} kills, {leftovers} temporary files left by them and removed by cleanup, acknowledged {:?} and {:?}, in {:?}",
        acknowledged.counters,
        acknowledged.moved,
        started.elapsed()
    );
}

/// A tmpfs mounted for one test, unmounted when dropped (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `path`, or says why it cannot.
    fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            // The owner of /proc/self is the process's effective user.
            let uid = std::fs::metadata("/proc/self").map(|m| m.uid());
            if uid.as_ref().map_or(true, |uid| *uid != 0) {
                return Err("not running as root".into());
            }
        }
        std::fs::create_dir_all(path).map_err(|error| error.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("tmpfs")
            .arg(path)
            .output()
            .map_err(|error| format!("could not run mount: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Tmpfs(path.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Busy (a file still open): detach it now, the kernel frees it when released.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Whether `error` is a typed backend error whose cause is a full disk.
fn is_disk_full(error: &StoreError) -> bool {
    let StoreError::Backend(source) = error else {
        return false;
    };
    source
        .downcast_ref::<FileStoreError>()
        .is_some_and(|error| error.io_error().kind() == std::io::ErrorKind::StorageFull)
}

fn sized_record(owner: Option<&str>, bytes: usize) -> Record {
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now_ms());
    record.owner = owner.map(str::to_string);
    record
        .data
        .insert("blob".into(), raw(format!("\"{}\"", "x".repeat(bytes))));
    record
}

fn setting(record: &Record, key: &str, bytes: usize) -> Delta {
    Delta {
        changed: vec![(key.into(), raw(format!("\"{}\"", "y".repeat(bytes))))],
        expires_at: record.expires_at,
        absolute_deadline: record.absolute_deadline,
        ..Delta::default()
    }
}

/// Every file under `dir` that could be a session (not a lock, index entry or directory) parses.
fn every_session_file_decodes(dir: &Path) {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if path.is_dir() {
                if name != "owners" {
                    pending.push(path);
                }
                continue;
            }
            assert!(!name.ends_with(".tmp"), "a temporary file was left: {name}");
            if name.starts_with('.') {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
                "{name} is torn: {} bytes",
                bytes.len()
            );
        }
    }
}

#[tokio::test]
async fn a_full_disk_fails_writes_cleanly_and_service_resumes_with_space() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("small");
    let _tmpfs = match Tmpfs::mount(&mount, "1m") {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            println!("skipped: the disk-full test mounts a tmpfs, which needs root ({why})");
            return;
        }
    };
    let started = Instant::now();
    let dir = mount.join("sessions");
    let store = store_in(&dir);

    // Fill it with sessions until one no longer fits, then fill what is left with a file.
    let mut stored = Vec::new();
    let refused = loop {
        assert!(started.elapsed() < TIME_LIMIT, "the disk never filled");
        let record = sized_record(Some("alice"), 24 * 1024);
        match store.create(&record).await {
            Ok(()) => stored.push(record),
            Err(error) => break error,
        }
    };
    assert!(
        is_disk_full(&refused),
        "not a typed disk-full error: {refused:?}"
    );
    assert!(stored.len() > 4, "only {} sessions fitted", stored.len());
    let filler = mount.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        while file.write_all(&[0; 4096]).is_ok() {}
    }

    // Every kind of write fails with the same typed error, and changes nothing.
    let small = sized_record(Some("alice"), 16);
    let error = store.create(&small).await.unwrap_err();
    assert!(is_disk_full(&error), "create: {error:?}");
    let target = stored[0].clone();
    let error = store
        .update(&target.id, &setting(&target, "more", 8 * 1024))
        .await
        .unwrap_err();
    assert!(is_disk_full(&error), "update: {error:?}");
    let moved = SessionId::generate();
    let error = store
        .regenerate(&target.id, &moved, &setting(&target, "more", 8 * 1024))
        .await
        .unwrap_err();
    assert!(is_disk_full(&error), "regenerate: {error:?}");
    assert_eq!(store.load(&moved).await.unwrap(), None);

    // Nothing is torn: every session that was stored loads as it was, every file decodes, and
    // the owner index lists exactly the stored sessions.
    for record in &stored {
        assert_eq!(store.load(&record.id).await.unwrap().as_ref(), Some(record));
    }
    assert_eq!(store.load(&small.id).await.unwrap(), None);
    every_session_file_decodes(&dir);
    assert_eq!(
        store.owner_sessions("alice").await.unwrap().len(),
        stored.len()
    );
    assert_eq!(store.count().await.unwrap(), stored.len() as u64);
    assert_eq!(store.delete_expired().await.unwrap(), 0, "nothing is dead");

    // Space returns (a logout needs none): every kind of write works again.
    for _ in 0..3 {
        let gone = stored.pop().unwrap();
        store.delete(&gone.id).await.unwrap();
        assert_eq!(store.load(&gone.id).await.unwrap(), None);
    }
    std::fs::remove_file(&filler).unwrap();
    store.create(&small).await.unwrap();
    assert!(store
        .update(&target.id, &setting(&target, "more", 8 * 1024))
        .await
        .unwrap());
    assert!(store
        .regenerate(&target.id, &moved, &setting(&target, "again", 16))
        .await
        .unwrap());
    let record = store.load(&moved).await.unwrap().unwrap();
    assert_eq!(record.data["more"].get().len(), 8 * 1024 + 2);
    assert_eq!(
        store.delete_owner("alice", None).await.unwrap(),
        stored.len() as u64 + 1
    );
    assert_eq!(store.count().await.unwrap(), 0);
    every_session_file_decodes(&dir);
}
