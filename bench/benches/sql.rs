//! The SQL stores against tower-sessions' sqlx store (`tower-sessions-sqlx-store`): load, create
//! and update of one key of a 10-key session, on the same server and in the same database, wall
//! time on loopback.
//!
//! - PostgreSQL (`POSTGRES_URL`) and MySQL/MariaDB (`MYSQL_URL`), each skipped when its variable
//!   is unset; `bench/run.sh sql` starts private servers through `scripts/with-postgres.sh` and
//!   `scripts/with-mariadb.sh`. SQLite always runs, in a temporary file.
//! - Ours: the `postgres`, `mysql` and `sqlite` stores, built from configuration through
//!   `session_stores::registry()` and driven through the public `Store` API (as `stores.rs` does
//!   the Redis store), with `pool_size = 8`.
//! - The peer: `PostgresStore`, `MySqlStore` and `SqliteStore` of tower-sessions-sqlx-store, on
//!   pools with the same settings as ours (8 connections, no test before each acquire; for
//!   SQLite the same file, write-ahead log and `synchronous = NORMAL`), its table created by its
//!   `migrate`, in the same database as ours.
//!
//! What each side does per operation:
//!
//! | operation        | ours                                   | tower-sessions-sqlx-store |
//! |------------------|----------------------------------------|---------------------------|
//! | `load`           | one `SELECT`, values kept as JSON text | one `SELECT`, MessagePack decoded into `serde_json::Value`s |
//! | `create`         | one `INSERT`                           | a transaction: `BEGIN`, an existence check, an upsert, `COMMIT` |
//! | `update_one_key` | one `UPDATE` applying the delta to the stored JSON | no delta update: a whole-record save (the upsert) of the changed session, which is what its layer does at the end of a request that changed it |
//!
//! Each store holds `PREFILL` other sessions while it is measured. `create` stores a new session
//! per iteration; the sessions it created are deleted between batches, outside the timing.

// Only the wall clock is used here.
#[allow(dead_code)]
mod support;

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::Measurement;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion};
use serde_json::json;
use session_bench::stores::{build, one_key_delta, toml_string};
use session_bench::{peer_map, record_with_fresh_id, values};
use session_core::{Record, SessionId, Store};
use tokio::runtime::Runtime;
use tower_sessions::cookie::time::{Duration as PeerDuration, OffsetDateTime};
use tower_sessions::session::{Id, Record as PeerRecord};
use tower_sessions::SessionStore;
use tower_sessions_sqlx_store::sqlx;

const PREFILL: usize = 10_000;
/// Connections in each side's pool.
const POOL_SIZE: u32 = 8;

/// One side of a comparison: a store holding `PREFILL` sessions and the one it updates.
trait Side {
    /// A session ready to be created, made outside the timing.
    type Fresh;
    fn fresh(&self) -> Self::Fresh;
    /// Stores `fresh` and remembers it for [`Side::remove_created`].
    fn create(&self, rt: &Runtime, fresh: Self::Fresh);
    fn remove_created(&self, rt: &Runtime);
    fn load(&self, rt: &Runtime);
    fn update(&self, rt: &Runtime, visits: u64);
    /// Panics unless the updated session holds all its keys and `visits` as last written.
    fn check(&self, rt: &Runtime, visits: u64);
}

struct Ours {
    store: Arc<dyn Store>,
    target: Record,
    created: RefCell<Vec<SessionId>>,
}

impl Ours {
    fn new(rt: &Runtime, store: Arc<dyn Store>) -> Self {
        for _ in 0..PREFILL {
            rt.block_on(store.create(&record_with_fresh_id(10)))
                .expect("prefill");
        }
        let target = record_with_fresh_id(10);
        rt.block_on(store.create(&target)).expect("create");
        Ours {
            store,
            target,
            created: RefCell::new(Vec::new()),
        }
    }
}

impl Side for Ours {
    type Fresh = Record;

    fn fresh(&self) -> Record {
        record_with_fresh_id(10)
    }

    fn create(&self, rt: &Runtime, record: Record) {
        rt.block_on(self.store.create(&record)).expect("creates");
        self.created.borrow_mut().push(record.id);
    }

    fn remove_created(&self, rt: &Runtime) {
        for id in self.created.borrow_mut().drain(..) {
            rt.block_on(self.store.delete(&id)).expect("delete");
        }
    }

    fn load(&self, rt: &Runtime) {
        rt.block_on(self.store.load(black_box(&self.target.id)))
            .expect("loads")
            .expect("present");
    }

    fn update(&self, rt: &Runtime, visits: u64) {
        let delta = one_key_delta(visits, self.target.absolute_deadline);
        assert!(rt
            .block_on(self.store.update(black_box(&self.target.id), &delta))
            .expect("updates"));
    }

    fn check(&self, rt: &Runtime, visits: u64) {
        let loaded = rt
            .block_on(self.store.load(&self.target.id))
            .expect("loads")
            .expect("present");
        assert_eq!(loaded.data.len(), values(10).len());
        assert_eq!(loaded.data["visits"].get(), visits.to_string());
    }
}

struct Peer<S> {
    store: S,
    target: RefCell<PeerRecord>,
    created: RefCell<Vec<Id>>,
}

fn peer_record() -> PeerRecord {
    PeerRecord {
        id: Id::default(),
        data: peer_map(10),
        expiry_date: OffsetDateTime::now_utc() + PeerDuration::days(1),
    }
}

impl<S: SessionStore> Peer<S> {
    fn new(rt: &Runtime, store: S) -> Self {
        let mut target = peer_record();
        rt.block_on(async {
            for _ in 0..PREFILL {
                store.create(&mut peer_record()).await.expect("prefill");
            }
            store.create(&mut target).await.expect("create");
        });
        Peer {
            store,
            target: RefCell::new(target),
            created: RefCell::new(Vec::new()),
        }
    }
}

impl<S: SessionStore> Side for Peer<S> {
    type Fresh = PeerRecord;

    fn fresh(&self) -> PeerRecord {
        peer_record()
    }

    fn create(&self, rt: &Runtime, mut record: PeerRecord) {
        rt.block_on(self.store.create(&mut record))
            .expect("creates");
        self.created.borrow_mut().push(record.id);
    }

    fn remove_created(&self, rt: &Runtime) {
        for id in self.created.borrow_mut().drain(..) {
            rt.block_on(self.store.delete(&id)).expect("delete");
        }
    }

    fn load(&self, rt: &Runtime) {
        let id = self.target.borrow().id;
        rt.block_on(self.store.load(black_box(&id)))
            .expect("loads")
            .expect("present");
    }

    fn update(&self, rt: &Runtime, visits: u64) {
        let mut record = self.target.borrow_mut();
        record.data.insert("visits".to_string(), json!(visits));
        record.expiry_date = OffsetDateTime::now_utc() + PeerDuration::days(1);
        rt.block_on(self.store.save(black_box(&record)))
            .expect("saves");
    }

    fn check(&self, rt: &Runtime, visits: u64) {
        let id = self.target.borrow().id;
        let loaded = rt
            .block_on(self.store.load(&id))
            .expect("loads")
            .expect("present");
        assert_eq!(loaded.data.len(), values(10).len());
        assert_eq!(loaded.data["visits"], json!(visits));
    }
}

fn bench_load<M: Measurement>(
    group: &mut BenchmarkGroup<'_, M>,
    name: &str,
    rt: &Runtime,
    side: &impl Side,
) {
    group.bench_function(BenchmarkId::new(name, "load"), |b| b.iter(|| side.load(rt)));
}

fn bench_create<M: Measurement, S: Side>(
    group: &mut BenchmarkGroup<'_, M>,
    name: &str,
    rt: &Runtime,
    side: &S,
) {
    group.bench_function(BenchmarkId::new(name, "create"), |b| {
        b.iter_batched(
            || {
                side.remove_created(rt);
                side.fresh()
            },
            |fresh| side.create(rt, fresh),
            BatchSize::SmallInput,
        )
    });
    side.remove_created(rt);
}

fn bench_update<M: Measurement>(
    group: &mut BenchmarkGroup<'_, M>,
    name: &str,
    rt: &Runtime,
    side: &impl Side,
) {
    let mut visits = 1_000u64;
    group.bench_function(BenchmarkId::new(name, "update_one_key"), |b| {
        b.iter(|| {
            visits += 1;
            side.update(rt, visits)
        })
    });
    side.check(rt, visits);
}

/// Ours and the peer on one database, operation by operation (ours first, then the peer), in
/// group `sql_<engine>`.
fn compare<M: Measurement>(
    c: &mut Criterion<M>,
    engine: &str,
    rt: &Runtime,
    ours: &Ours,
    peer: &impl Side,
) {
    let mut group = c.benchmark_group(format!("sql_{engine}"));
    bench_load(&mut group, "ours", rt, ours);
    bench_load(&mut group, "tower_sessions", rt, peer);
    bench_create(&mut group, "ours", rt, ours);
    bench_create(&mut group, "tower_sessions", rt, peer);
    bench_update(&mut group, "ours", rt, ours);
    bench_update(&mut group, "tower_sessions", rt, peer);
    group.finish();
}

fn our_store(rt: &Runtime, engine: &str, url: &str) -> Option<Ours> {
    let toml = format!(
        "{{ type = \"{engine}\", url = {}, pool_size = {POOL_SIZE} }}",
        toml_string(url)
    );
    build(rt, &toml).map(|store| Ours::new(rt, store))
}

/// The server `variable` names and our `engine` store on it; `None` when the variable is unset
/// or the store cannot be built (with a message).
fn server_store(rt: &Runtime, engine: &str, variable: &str) -> Option<(String, Ours)> {
    let Ok(url) = std::env::var(variable) else {
        eprintln!("skipping {engine}: {variable} is not set (bench/run.sh sql sets it)");
        return None;
    };
    let ours = our_store(rt, engine, &url)?;
    Some((url, ours))
}

/// The pool settings of ours, for the peer's pool.
fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(Duration::from_secs(2))
        .test_before_acquire(false)
}

fn postgres<M: Measurement>(c: &mut Criterion<M>, rt: &Runtime) {
    let Some((url, ours)) = server_store(rt, "postgres", "POSTGRES_URL") else {
        return;
    };
    let peer = rt.block_on(async {
        let pool = pool_options().connect(&url).await.expect("peer pool");
        let store = tower_sessions_sqlx_store::PostgresStore::new(pool);
        store.migrate().await.expect("peer table");
        store
    });
    compare(c, "postgres", rt, &ours, &Peer::new(rt, peer));
}

fn mysql<M: Measurement>(c: &mut Criterion<M>, rt: &Runtime) {
    let Some((url, ours)) = server_store(rt, "mysql", "MYSQL_URL") else {
        return;
    };
    // The peer's "schema" is a MySQL database: ours, the one the URL names.
    let database = url
        .rsplit('/')
        .next()
        .and_then(|path| path.split('?').next())
        .unwrap_or("sessions")
        .to_string();
    let peer = rt.block_on(async {
        let pool = pool_options().connect(&url).await.expect("peer pool");
        let store = tower_sessions_sqlx_store::MySqlStore::new(pool)
            .with_schema_name(&database)
            .expect("database name");
        store.migrate().await.expect("peer table");
        store
    });
    compare(c, "mysql", rt, &ours, &Peer::new(rt, peer));
}

fn sqlite<M: Measurement>(c: &mut Criterion<M>, rt: &Runtime) {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use std::str::FromStr;

    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let Some(ours) = our_store(rt, "sqlite", &url) else {
        return;
    };
    let peer = rt.block_on(async {
        let connect = SqliteConnectOptions::from_str(&url)
            .expect("SQLite URL")
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = pool_options()
            .connect_with(connect)
            .await
            .expect("peer pool");
        let store = tower_sessions_sqlx_store::SqliteStore::new(pool);
        store.migrate().await.expect("peer table");
        store
    });
    compare(c, "sqlite", rt, &ours, &Peer::new(rt, peer));
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Wall time: waiting on the database server is the cost being measured.
    let mut criterion = support::wall_criterion().configure_from_args();
    postgres(&mut criterion, &rt);
    mysql(&mut criterion, &rt);
    sqlite(&mut criterion, &rt);
    criterion.final_summary();
}
