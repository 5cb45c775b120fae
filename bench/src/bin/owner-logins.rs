//! What a login costs with the per-owner cap, store by store, through the `SessionManager`.
//!
//! A login here is what an adapter does for a request with no cookie whose handler logs a user
//! in: open the default session, `set_owner(user)`, set one value, hand over the client's
//! `User-Agent` and address (`RequestSessions::set_client_info`, as the adapters do once a
//! session binds an owner), then `save_request`. Every login writes the session's device record
//! (it is part of binding an owner); the variants differ in the configuration's `owners` table:
//!
//! - `plain`: no `owners` table: the session is bound to its owner, nothing more;
//! - `cap`: `owners = { max_sessions = 10 }` (`when_full = "end_least_recent"`): after the write,
//!   the manager lists the owner's sessions and ends those past the cap;
//! - `refuse`: `owners = { max_sessions = 10, when_full = "refuse" }`: one listing before the
//!   write (refuse when full) and one after (a racing login past the cap).
//!
//! Since binding an owner always writes the device record, its own share is measured apart, at
//! the store: `create` of the record a login writes (owner bound, one value), without and with
//! the device record (`store-create` and `store-create+device`, alternating likewise).
//!
//! Each variant logs one owner in again and again, the owner holding 5 live sessions before
//! every login: the new session is ended after its login is timed, outside the measurement. The
//! variants alternate login by login, so a change in the machine's load falls on all of them.
//! Wall time per login (the store's server time included), median and quartiles.
//!
//! Usage: `owner-logins <logins per variant> <store>...`, stores among `memory`, `file`,
//! `redis` (`REDIS_URL`), `postgres` (`POSTGRES_URL`), `mysql` (`MYSQL_URL`), `sqlite`; a server
//! store whose variable is unset is skipped with a message.

use std::time::Instant;

use session_bench::stores::toml_string;
use session_core::{
    now_ms, Backend, ClientInfo, Device, Expiry, KeyRing, RawJson, Record, SessionId,
    SessionManager, SessionsConfig, Store, DEVICE_KEY,
};
use tokio::runtime::Runtime;

/// The variants, in the order they alternate, and their `owners` table.
const VARIANTS: [(&str, &str); 3] = [
    ("plain", ""),
    ("cap", "owners = { max_sessions = 10 }\n"),
    (
        "refuse",
        "owners = { max_sessions = 10, when_full = \"refuse\" }\n",
    ),
];

/// How many live sessions the owner holds before each login.
const HELD: usize = 5;

/// Logins per variant before the measured ones (pools filled, statements prepared).
const WARM_UP: usize = 20;

/// A browser's `User-Agent`, the length of a common one.
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn manager(rt: &Runtime, store_toml: &str, owners: &str) -> Option<SessionManager> {
    let config = SessionsConfig::from_toml(&format!(
        "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"id\" }}\nstore = {store_toml}\n{owners}"
    ))
    .expect("config");
    match rt.block_on(SessionManager::from_config(
        &config,
        &session_stores::registry(),
        KeyRing::generate(),
    )) {
        Ok(manager) => Some(manager),
        Err(error) => {
            eprintln!("skipping `{store_toml}`: {error}");
            None
        }
    }
}

/// One login of `owner`: returns its session's handle, for ending it afterwards.
async fn login(manager: &SessionManager, owner: &str) -> String {
    let request = manager.request(None, |_| None);
    let session = request.default_session().await.expect("session");
    session.set_owner(owner).expect("owner");
    session.insert("user_id", 48213).expect("insert");
    if request.binds_owner() {
        request.set_client_info(ClientInfo {
            user_agent: Some(USER_AGENT.to_string()),
            ip: Some("192.0.2.17".to_string()),
        });
    }
    let headers = manager.save_request(request).await.expect("login");
    assert_eq!(headers.len(), 1, "a login sets its cookie");
    session.id().storage_key()
}

/// The record a login of `owner` writes, with or without its device record.
fn login_record(owner: &str, device: bool) -> Record {
    let now = now_ms();
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now);
    record.owner = Some(owner.to_string());
    record.data.insert(
        "user_id".into(),
        RawJson::to_json(&48213).expect("a number is JSON"),
    );
    if device {
        let client = ClientInfo {
            user_agent: Some(USER_AGENT.to_string()),
            ip: None,
        };
        record.data.insert(
            DEVICE_KEY.into(),
            Device::at_login(now, &client, false).to_value(),
        );
    }
    record
}

/// Wall ns of `logins` creates of a login's record without the device record, and as many with
/// it, alternating; each record deleted after it is timed.
async fn store_creates(store: &dyn Store, owner: &str, logins: usize) -> [Vec<u64>; 2] {
    let mut times = [Vec::with_capacity(logins), Vec::with_capacity(logins)];
    for round in 0..WARM_UP + logins {
        for (device, times) in times.iter_mut().enumerate() {
            let record = login_record(owner, device == 1);
            let started = Instant::now();
            store.create(&record).await.expect("create");
            let elapsed = started.elapsed().as_nanos() as u64;
            store.delete(&record.id).await.expect("delete");
            if round >= WARM_UP {
                times.push(elapsed);
            }
        }
    }
    times
}

/// The store table of `store`, or `None` when its server is not configured.
fn store_toml(store: &str, dir: &std::path::Path) -> Option<String> {
    let server = |variable: &str| match std::env::var(variable) {
        Ok(url) => Some(format!(
            "{{ type = \"{store}\", url = {} }}",
            toml_string(&url)
        )),
        Err(_) => {
            eprintln!("skipping {store}: {variable} is not set");
            None
        }
    };
    match store {
        "memory" => Some("{ type = \"memory\" }".to_string()),
        "file" => Some(format!(
            "{{ type = \"file\", dir = {} }}",
            toml_string(&dir.join("sessions").display().to_string())
        )),
        "sqlite" => Some(format!(
            "{{ type = \"sqlite\", url = {} }}",
            toml_string(&format!("sqlite://{}", dir.join("sessions.db").display()))
        )),
        "redis" => server("REDIS_URL"),
        "postgres" => server("POSTGRES_URL"),
        "mysql" => server("MYSQL_URL"),
        other => {
            eprintln!("unknown store `{other}`");
            std::process::exit(2)
        }
    }
}

/// The `q`-quantile of sorted `times` (ns), in µs.
fn quantile(times: &[u64], q: f64) -> f64 {
    let index = ((times.len() - 1) as f64 * q).round() as usize;
    times[index] as f64 / 1000.0
}

fn run_store(rt: &Runtime, store: &str, logins: usize) {
    let dir = tempfile_dir(store);
    let Some(store_toml) = store_toml(store, &dir) else {
        return;
    };
    let managers: Vec<(&str, SessionManager)> = VARIANTS
        .iter()
        .filter_map(|(variant, owners)| Some((*variant, manager(rt, &store_toml, owners)?)))
        .collect();
    if managers.len() < VARIANTS.len() {
        return;
    }
    // One owner per variant, so no variant's sessions count against another's cap.
    let run_id = &session_core::SessionId::generate().storage_key()[..8];
    let owners: Vec<String> = VARIANTS
        .iter()
        .map(|(variant, _)| format!("user-{variant}-{run_id}@example.com"))
        .collect();
    let mut times: Vec<Vec<u64>> = vec![Vec::with_capacity(logins); VARIANTS.len()];
    rt.block_on(async {
        for ((_, manager), owner) in managers.iter().zip(&owners) {
            for _ in 0..HELD {
                login(manager, owner).await;
            }
        }
        for round in 0..WARM_UP + logins {
            for (index, ((_, manager), owner)) in managers.iter().zip(&owners).enumerate() {
                let started = Instant::now();
                let handle = login(manager, owner).await;
                let elapsed = started.elapsed().as_nanos() as u64;
                let ended = manager
                    .revoke_session("app", owner, &handle)
                    .await
                    .expect("revoke");
                assert!(ended, "the login's session was live");
                if round >= WARM_UP {
                    times[index].push(elapsed);
                }
            }
        }
        for ((_, manager), owner) in managers.iter().zip(&owners) {
            let held = manager
                .owner_sessions("app", owner, None)
                .await
                .expect("list");
            assert_eq!(
                held.len(),
                HELD,
                "the owner holds {HELD} sessions throughout"
            );
            manager.revoke_owner("app", owner).await.expect("revoke");
        }
        if let Some(Backend::Server(store)) = managers[0].1.backend("app") {
            let owner = format!("user-store-{run_id}@example.com");
            times.extend(store_creates(store.as_ref(), &owner, logins).await);
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    for times in &mut times {
        times.sort_unstable();
    }
    let plain = quantile(&times[0], 0.5);
    let create = quantile(&times[VARIANTS.len()], 0.5);
    let names = VARIANTS
        .iter()
        .map(|(variant, _)| *variant)
        .chain(["store-create", "store-create+device"]);
    for (index, (variant, times)) in names.zip(&times).enumerate() {
        let median = quantile(times, 0.5);
        let base = if index < VARIANTS.len() {
            plain
        } else {
            create
        };
        println!(
            "{store}\t{variant}\t{median:.1}\t{:.1}\t{:.1}\t{:.2}",
            quantile(times, 0.25),
            quantile(times, 0.75),
            median / base
        );
    }
}

/// A fresh directory for the file and SQLite stores.
fn tempfile_dir(store: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "owner-logins-{store}-{}",
        &session_core::SessionId::generate().storage_key()[..8]
    ));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = || -> ! {
        eprintln!(
            "usage: owner-logins <logins per variant> <memory|file|redis|postgres|mysql|sqlite>..."
        );
        std::process::exit(2)
    };
    let logins: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| usage());
    let stores: Vec<String> = args.collect();
    if stores.is_empty() {
        usage();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "# {logins} logins per variant, the owner holding {HELD} sessions before each; wall µs per login"
    );
    println!("# store\tvariant\tmedian\tp25\tp75\tmedian / plain's (store-create's)");
    for store in &stores {
        run_store(&rt, store, logins);
    }
}
