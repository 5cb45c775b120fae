//! The store's connections under Redis Sentinel: a pool of multiplexed connections to the
//! primary of the moment, replaced when a failover moves the primary elsewhere. See "Redis
//! Sentinel" in the module documentation.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{
    AsyncConnectionConfig, ErrorKind, FromRedisValue, RedisConnectionInfo, RedisError, RedisResult,
    ServerErrorKind, TlsMode,
};

use super::link::Request;
use super::options::SentinelOptions;

/// Sends per operation at most: the first, and one after each of two lookups of the primary.
const MAX_SENDS: usize = 3;

/// A lookup that failed is not repeated for this long: requests meanwhile fail at once with its
/// error instead of each asking the sentinels (during a failover, every request would).
const LOOKUP_BACKOFF: Duration = Duration::from_millis(100);

/// How often the store asks the sentinels, while it is used, whether the primary moved. A
/// sentinel that demotes a live primary (a switchover, or an old primary coming back) closes its
/// clients' connections, but only after it promoted the replica, and that demotion may come
/// seconds later: meanwhile the old primary still takes writes, which its demotion then drops.
/// Asking this often bounds that window for the store.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The longest a lookup may take, whatever the operations waiting on it do; it runs on its own
/// (an operation that times out does not cancel it), so a slow sentinel cannot keep the store
/// from ever learning the primary.
const LOOKUP_LIMIT: Duration = Duration::from_secs(10);

/// The primary of the moment and the lookup that replaces it.
pub(super) struct SentinelLink {
    master: String,
    node: SentinelNodeConnectionInfo,
    config: AsyncConnectionConfig,
    pool_size: usize,
    timeout: Duration,
    primary: RwLock<Arc<Primary>>,
    generations: AtomicU64,
    /// What `Primary::checked` counts from.
    started: Instant,
    lookup: tokio::sync::Mutex<Lookup>,
}

/// Connections to one primary.
struct Primary {
    /// `host:port`, for logs.
    address: String,
    generation: u64,
    pool: Box<[MultiplexedConnection]>,
    next: AtomicUsize,
    /// Set when an operation timed out on it: the next one asks the sentinels first.
    suspect: AtomicBool,
    /// When the sentinels last named it (ms since `SentinelLink::started`).
    checked: AtomicU64,
}

impl Primary {
    fn new(address: String, generation: u64, pool: Box<[MultiplexedConnection]>, now: u64) -> Self {
        Primary {
            address,
            generation,
            pool,
            next: AtomicUsize::new(0),
            suspect: AtomicBool::new(false),
            checked: AtomicU64::new(now),
        }
    }

    fn connection(&self) -> MultiplexedConnection {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len();
        self.pool[index].clone()
    }
}

struct Lookup {
    sentinel: Sentinel,
    failed: Option<(Instant, RedisError)>,
}

/// Why the store asks the sentinels again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// A connection died or the server refused a write as a replica: new connections are needed,
    /// wherever the primary is.
    Lost,
    /// An operation timed out: the primary may have moved; if not, its connections are kept.
    Suspect,
    /// The periodic check: the same, but nobody waits for it.
    Check,
}

impl SentinelLink {
    /// Asks the sentinels for the primary and connects `pool_size` connections to it.
    pub(super) async fn connect(
        options: &SentinelOptions,
        pool_size: usize,
        timeout: Duration,
    ) -> RedisResult<Arc<Self>> {
        let sentinel = Sentinel::build(options.urls.clone())?;
        let mut redis = RedisConnectionInfo::default().set_db(options.primary_db);
        if let Some(username) = &options.primary_username {
            redis = redis.set_username(username);
        }
        if let Some(password) = &options.primary_password {
            redis = redis.set_password(password);
        }
        let mut node = SentinelNodeConnectionInfo::default().set_redis_connection_info(redis);
        if options.primary_tls {
            node = node.set_tls_mode(TlsMode::Secure);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let link = SentinelLink {
            master: options.master.clone(),
            node,
            config,
            pool_size: pool_size.max(1),
            timeout,
            primary: RwLock::new(Arc::new(Primary::new(String::new(), 0, Box::new([]), 0))),
            generations: AtomicU64::new(0),
            started: Instant::now(),
            lookup: tokio::sync::Mutex::new(Lookup {
                sentinel,
                failed: None,
            }),
        };
        let primary = {
            let mut lookup = link.lookup.lock().await;
            tokio::time::timeout(timeout, link.discover(&mut lookup, None))
                .await
                .map_err(|_| timed_out("asking the sentinels for the primary"))??
                .ok_or_else(|| timed_out("a primary"))?
        };
        *link
            .primary
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = primary;
        Ok(Arc::new(link))
    }

    /// The primary's address as last learnt from the sentinels (`host:port`).
    pub(super) fn primary_address(&self) -> String {
        self.current().address.clone()
    }

    fn current(&self) -> Arc<Primary> {
        // A poisoned lock still holds a whole `Arc`: a panic elsewhere cannot leave it half set.
        self.primary
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Sends `request` to the primary, following it when the reply shows it has moved; the
    /// whole operation, lookups included, takes at most `timeout`.
    pub(super) async fn send<T: FromRedisValue>(
        self: &Arc<Self>,
        request: Request<'_>,
    ) -> RedisResult<T> {
        match tokio::time::timeout(self.timeout, self.send_following(request)).await {
            Ok(result) => result,
            Err(_) => {
                // Lost in a network partition, the old primary never answers again: without
                // this, every later operation would wait for it in vain.
                self.current().suspect.store(true, Ordering::Relaxed);
                Err(timed_out("a reply from the primary"))
            }
        }
    }

    async fn send_following<T: FromRedisValue>(
        self: &Arc<Self>,
        request: Request<'_>,
    ) -> RedisResult<T> {
        let mut primary = self.current();
        if primary.suspect.load(Ordering::Relaxed) {
            // If the sentinels cannot say, the primary may well still answer: try it.
            primary = match self.follow(&primary, Reason::Suspect).await {
                Ok(followed) => followed,
                Err(_) => primary,
            };
        } else if self.check_due(&primary) {
            let (link, seen) = (Arc::clone(self), Arc::clone(&primary));
            tokio::spawn(async move { link.follow_alone(&seen, Reason::Check).await });
        }
        let mut sends = 0;
        loop {
            sends += 1;
            let mut connection = primary.connection();
            match request.send(&mut connection).await {
                Err(error) if error.is_timeout() => {
                    primary.suspect.store(true, Ordering::Relaxed);
                    return Err(error);
                }
                Err(error) if moved_away(&error) && sends < MAX_SENDS => {
                    tracing::debug!(%error, "the primary is gone or demoted; asking the sentinels");
                    primary = self.follow(&primary, Reason::Lost).await?;
                }
                result => return result,
            }
        }
    }

    /// Makes the primary the sentinels name the current one, after `seen` failed for `reason`,
    /// and returns it. Operations that fail together share one lookup: who comes second finds
    /// the primary already replaced. The lookup runs as a task of its own, so an operation that
    /// gives up waiting does not cancel it.
    async fn follow(
        self: &Arc<Self>,
        seen: &Arc<Primary>,
        reason: Reason,
    ) -> RedisResult<Arc<Primary>> {
        let link = Arc::clone(self);
        let seen = Arc::clone(seen);
        tokio::spawn(async move { link.follow_alone(&seen, reason).await })
            .await
            .map_err(|error| {
                RedisError::from((
                    ErrorKind::Client,
                    "the lookup of the primary stopped",
                    error.to_string(),
                ))
            })?
    }

    /// Whether `primary` is due its periodic check; claims it, so that one operation starts it.
    fn check_due(&self, primary: &Primary) -> bool {
        let now = self.now();
        let last = primary.checked.load(Ordering::Relaxed);
        now.saturating_sub(last) >= CHECK_EVERY.as_millis() as u64
            && primary
                .checked
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn follow_alone(&self, seen: &Arc<Primary>, reason: Reason) -> RedisResult<Arc<Primary>> {
        let mut lookup = self.lookup.lock().await;
        let current = self.current();
        if current.generation != seen.generation {
            return Ok(current);
        }
        if let Some((at, error)) = &lookup.failed {
            if at.elapsed() < LOOKUP_BACKOFF {
                return Err(error.clone());
            }
        }
        let keep = (reason != Reason::Lost).then_some(seen);
        match tokio::time::timeout(LOOKUP_LIMIT, self.discover(&mut lookup, keep)).await {
            Ok(Ok(None)) => {
                lookup.failed = None;
                seen.suspect.store(false, Ordering::Relaxed);
                seen.checked.store(self.now(), Ordering::Relaxed);
                Ok(Arc::clone(seen))
            }
            Ok(Ok(Some(primary))) => {
                lookup.failed = None;
                if primary.address != seen.address {
                    tracing::info!(
                        from = %seen.address,
                        to = %primary.address,
                        "the Redis primary moved; following it"
                    );
                }
                *self
                    .primary
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::clone(&primary);
                Ok(primary)
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "the sentinels named no reachable primary");
                lookup.failed = Some((Instant::now(), error.clone()));
                Err(error)
            }
            Err(_) => {
                let error = timed_out("asking the sentinels for the primary");
                lookup.failed = Some((Instant::now(), error.clone()));
                Err(error)
            }
        }
    }

    /// Asks the sentinels for the primary (the `redis` crate checks that it answers `ROLE` as
    /// one) and connects to it; `None` when it is `keep`, whose connections are then kept.
    async fn discover(
        &self,
        lookup: &mut Lookup,
        keep: Option<&Arc<Primary>>,
    ) -> RedisResult<Option<Arc<Primary>>> {
        let client = lookup
            .sentinel
            .async_master_for(&self.master, Some(&self.node))
            .await?;
        let address = client.get_connection_info().addr().to_string();
        if keep.is_some_and(|kept| kept.address == address) {
            return Ok(None);
        }
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let mut pool = Vec::with_capacity(self.pool_size);
        for _ in 0..self.pool_size {
            pool.push(
                client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?,
            );
        }
        Ok(Some(Arc::new(Primary::new(
            address,
            generation,
            pool.into_boxed_slice(),
            self.now(),
        ))))
    }
}

/// Whether an error shows that the primary is no longer where the store's connections lead: the
/// connection died (the server stopped, or a sentinel closed it while demoting the server), or
/// the server refused a write as a replica (`READONLY`, in a transaction `EXECABORT` over one) or
/// a replica cut off from its primary (`MASTERDOWN`). In each case the command did not run, or
/// (a connection that died in flight) ran at most once, as on a single server.
fn moved_away(error: &RedisError) -> bool {
    let demoted = |kind: Option<ServerErrorKind>| {
        matches!(
            kind,
            Some(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
    };
    match error.kind() {
        ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown) => true,
        ErrorKind::Server(ServerErrorKind::ExecAbort) => error
            .clone()
            .into_server_errors()
            .is_some_and(|errors| errors.iter().any(|(_, error)| demoted(error.kind()))),
        _ => !error.is_timeout() && (error.is_connection_dropped() || error.is_io_error()),
    }
}

fn timed_out(waiting_for: &'static str) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("timed out waiting for {waiting_for}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_connections_and_demoted_primaries_are_followed_timeouts_are_not() {
        let io = |kind| RedisError::from(std::io::Error::new(kind, "test"));
        assert!(moved_away(&io(std::io::ErrorKind::ConnectionReset)));
        assert!(moved_away(&io(std::io::ErrorKind::BrokenPipe)));
        assert!(!moved_away(&timed_out("a test")));
        let server = |text: &str| {
            redis::parse_redis_value(format!("-{text}\r\n").as_bytes())
                .unwrap()
                .extract_error()
                .unwrap_err()
        };
        assert!(moved_away(&server(
            "READONLY You can't write against a read only replica."
        )));
        assert!(!moved_away(&server("ERR wrong number of arguments")));
    }
}
