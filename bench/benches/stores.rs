//! Server-side stores: load, create and delta update of a 10-key session
//! (about 300 bytes of values), for the memory, file and Redis stores.
//!
//! The stores are built from configuration through `session_stores::registry()`, as an
//! application builds them, and driven through `Arc<dyn Store>` on a current-thread Tokio runtime
//! (`block_on` of a future that is ready at once costs ~50 ns; `runtime_overhead` measures it).
//!
//! - memory: measured on the clock `BENCH_CLOCK` selects (thread CPU time by default).
//! - file (a temporary directory) and Redis (`REDIS_URL`, skipped when unset; `bench/run.sh`
//!   starts a private server through `scripts/with-redis.sh`): always wall time, because the time
//!   spent waiting on the disk or the Redis server is part of the cost.
//!
//! `server_cycle` is one whole request's session work with the memory store, without HTTP: parse
//! the `Cookie` header, open the session (verify the signed id, load the record), read one value,
//! change one value, save (a delta update) and produce the response headers. Ours goes through the
//! public `SessionManager`; the peer is tower-sessions 0.14 with its memory store, doing what its
//! layer does per request (parse the id, `Session::new`, lazy load on first `get`, `insert`,
//! `save` when modified, render the `Set-Cookie` it sends after every modifying request).
//!
//! Each store holds `PREFILL` other sessions while it is measured. `create` stores a new session
//! per iteration under a fresh id; the sessions it created are deleted between batches, outside
//! the timing, so the store's size stays bounded.

mod support;

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Arc;

use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion};
use session_bench::stores::{build as build_store, one_key_delta, toml_string};
use session_bench::{record_with_fresh_id, values};
use session_core::{SessionId, SessionsConfig, Store};
use tokio::runtime::Runtime;

const PREFILL: usize = 10_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn bench_store<M: Measurement>(
    c: &mut Criterion<M>,
    label: &str,
    rt: &Runtime,
    store: Arc<dyn Store>,
) {
    for _ in 0..PREFILL {
        rt.block_on(store.create(&record_with_fresh_id(10)))
            .expect("prefill");
    }
    let target = record_with_fresh_id(10);
    rt.block_on(store.create(&target)).expect("create");
    let id = target.id;

    let mut group = c.benchmark_group(format!("store_{label}"));
    group.bench_function("load", |b| {
        b.iter(|| {
            rt.block_on(store.load(black_box(&id)))
                .expect("loads")
                .expect("present")
        })
    });

    let created: RefCell<Vec<SessionId>> = RefCell::new(Vec::new());
    group.bench_function("create", |b| {
        b.iter_batched(
            || {
                for old in created.borrow_mut().drain(..) {
                    rt.block_on(store.delete(&old)).expect("delete");
                }
                record_with_fresh_id(10)
            },
            |record| {
                rt.block_on(store.create(&record)).expect("creates");
                created.borrow_mut().push(record.id);
            },
            BatchSize::SmallInput,
        )
    });
    for old in created.borrow_mut().drain(..) {
        rt.block_on(store.delete(&old)).expect("delete");
    }

    let whole = target.clone();
    // One request's change: one key set, the idle deadline moved.
    let mut visits = 1_000u64;
    group.bench_function("update_one_key", |b| {
        b.iter(|| {
            visits += 1;
            let delta = one_key_delta(visits, whole.absolute_deadline);
            assert!(rt
                .block_on(store.update(black_box(&id), &delta))
                .expect("updates"))
        })
    });
    group.finish();
    let loaded = rt
        .block_on(store.load(&id))
        .expect("loads")
        .expect("present");
    assert_eq!(loaded.data.len(), values(10).len());
}

fn memory<M: Measurement>(c: &mut Criterion<M>) {
    let rt = runtime();
    let mut group = c.benchmark_group("runtime_overhead");
    group.bench_function("block_on_ready", |b| {
        b.iter(|| rt.block_on(async { black_box(1) }))
    });
    group.finish();
    if let Some(store) = build_store(&rt, "{ type = \"memory\", max_sessions = 1000000 }") {
        bench_store(c, "memory", &rt, store);
    }
}

fn file_and_redis<M: Measurement>(c: &mut Criterion<M>) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = format!(
        "{{ type = \"file\", dir = {} }}",
        toml_string(&dir.path().join("sessions").display().to_string())
    );
    if let Some(store) = build_store(&rt, &file) {
        bench_store(c, "file", &rt, store);
    }
    match std::env::var("REDIS_URL") {
        Ok(url) => {
            let redis = format!("{{ type = \"redis\", url = {} }}", toml_string(&url));
            if let Some(store) = build_store(&rt, &redis) {
                bench_store(c, "redis", &rt, store);
            }
        }
        Err(_) => eprintln!(
            "skipping the Redis store: REDIS_URL is not set (bench/run.sh stores sets it)"
        ),
    }
}

fn server_cycle<M: Measurement>(c: &mut Criterion<M>) {
    use cookie::{Cookie, SameSite};
    use session_core::{KeyRing, SessionManager};
    use std::str::FromStr;
    use tower_sessions::session::Id;

    let rt = runtime();
    let mut group = c.benchmark_group("server_cycle_memory");
    for keys_n in [1usize, 10] {
        // Ours: a session created through the manager, then the cycle on its cookie.
        let config = SessionsConfig::from_toml(
            "[sessions.app]\ntransport = { type = \"cookie\", name = \"id\" }\nstore = { type = \"memory\" }\n",
        )
        .expect("config");
        let manager = rt
            .block_on(SessionManager::from_config(
                &config,
                &session_stores::registry(),
                KeyRing::generate(),
            ))
            .expect("manager");
        let our_cookie = rt.block_on(session_bench::first_cookie(&manager, keys_n));
        let mut visits = 1_000u64;
        group.bench_function(criterion::BenchmarkId::new("ours", keys_n), |b| {
            b.iter(|| {
                visits += 1;
                let request = manager.request([black_box(our_cookie.as_str())], |_| None);
                let session = rt.block_on(request.default_session()).expect("session");
                let user: u64 = session.get("user_id").expect("reads").expect("present");
                session.insert("visits", visits).expect("insert");
                let headers = rt.block_on(manager.save_request(request)).expect("finish");
                (user, headers)
            })
        });

        // tower-sessions: the same session in its memory store.
        let store = Arc::new(tower_sessions::MemoryStore::default());
        let session = tower_sessions::Session::new(None, Arc::clone(&store), None);
        rt.block_on(async {
            for (key, value) in values(keys_n) {
                session.insert(&key, value).await.expect("insert");
            }
            session.save().await.expect("save");
        });
        let peer_cookie = format!("id={}", session.id().expect("saved"));
        group.bench_function(criterion::BenchmarkId::new("tower_sessions", keys_n), |b| {
            b.iter(|| {
                visits += 1;
                let id = Cookie::split_parse(black_box(peer_cookie.as_str()))
                    .flatten()
                    .find(|cookie| cookie.name() == "id")
                    .and_then(|cookie| Id::from_str(cookie.value()).ok());
                let session = tower_sessions::Session::new(id, Arc::clone(&store), None);
                let user = rt.block_on(async {
                    let user: u64 = session
                        .get("user_id")
                        .await
                        .expect("reads")
                        .expect("present");
                    session.insert("visits", visits).await.expect("insert");
                    if session.is_modified() {
                        session.save().await.expect("save");
                    }
                    user
                });
                let id = session.id().expect("saved");
                let set_cookie = Cookie::build(("id", id.to_string()))
                    .path("/")
                    .http_only(true)
                    .secure(true)
                    .same_site(SameSite::Strict)
                    .build()
                    .to_string();
                (user, set_cookie)
            })
        });
    }
    group.finish();
}

fn main() {
    if support::wall_clock() {
        let mut criterion = support::wall_criterion().configure_from_args();
        memory(&mut criterion);
        server_cycle(&mut criterion);
        criterion.final_summary();
    } else {
        let mut criterion = support::cpu_criterion().configure_from_args();
        memory(&mut criterion);
        server_cycle(&mut criterion);
        criterion.final_summary();
    }
    let mut criterion = support::wall_criterion().configure_from_args();
    file_and_redis(&mut criterion);
    criterion.final_summary();
}
