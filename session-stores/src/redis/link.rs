//! The store's connections: a pool of multiplexed connections to one server, one cluster
//! client, or a pool that follows the primary Redis Sentinel names; each retries a command when
//! its connection turns out to be dead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use redis::aio::ConnectionLike;
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisResult, ServerErrorKind, Value};

use super::sentinel::SentinelLink;

/// Where commands go.
pub(super) enum Link {
    /// One server, over `pool_size` multiplexed connections used round-robin.
    Single {
        pool: Box<[ConnectionManager]>,
        next: AtomicUsize,
    },
    /// A Redis Cluster: one client routing each command to the primary of its key's slot.
    Cluster(ClusterConnection),
    /// A primary watched by Redis Sentinel, over `pool_size` connections to wherever it is.
    Sentinel(Arc<SentinelLink>),
}

/// A Lua script, sent by hash and, when the server lacks it, by body.
pub(super) struct Script {
    hash: String,
    body: String,
}

impl Script {
    pub(super) fn new(body: String) -> Self {
        Script {
            hash: redis::Script::new(&body).get_hash().to_string(),
            body,
        }
    }

    /// `EVALSHA` of the script with `keys` keys, room for `args` arguments of `bytes` bytes in
    /// all; the caller appends the keys, then the arguments.
    pub(super) fn command(&self, keys: usize, args: usize, bytes: usize) -> Cmd {
        let mut command = Cmd::with_capacity(args + keys + 3, bytes + self.hash.len() + 32);
        command.arg("EVALSHA").arg(&self.hash).arg(keys);
        command
    }

    /// The same invocation by body: `EVAL` loads the script on the node that runs it.
    fn by_body(&self, command: &Cmd) -> Cmd {
        let mut eval = Cmd::with_capacity(command.args_iter().count() + 1, self.body.len() + 64);
        eval.arg("EVAL").arg(&self.body);
        for arg in command.args_iter().skip(2) {
            if let redis::Arg::Simple(bytes) = arg {
                eval.arg(bytes);
            }
        }
        eval
    }
}

impl Link {
    /// Runs `command`. A connection found dead (the server restarted, a failover closed it) is
    /// replaced and the command sent once more, so that once the server answers again no request
    /// fails. Only a dead connection is retried, never a timeout or a server's error; on a
    /// cluster also a redirection the client gave up following (`MOVED`, `ASK`, `TRYAGAIN`,
    /// `CLUSTERDOWN`) or a node it had no connection to: the command did not run. Both happen when
    /// every connection died at once and the client's own retries met dead connections first.
    /// Under Sentinel, a dead connection or a refusal as a replica (`READONLY`, `MASTERDOWN`)
    /// sends the command, at most twice more, to the primary the sentinels name then.
    ///
    /// A command in flight at the moment the server died may have run there; sent again, a
    /// `create` then finds its own record (`AlreadyExists`, after which the manager picks another
    /// id) and an update applies twice, which a delta's last-writer-wins semantics absorbs.
    pub(super) async fn query<T: FromRedisValue>(&self, command: &Cmd) -> RedisResult<T> {
        self.send(Request::Command(command)).await
    }

    /// Runs `pipeline` (a `MULTI`/`EXEC` transaction), retried as [`query`](Self::query) is. A
    /// transaction that reached the server either ran whole or not at all, so sending it again
    /// is as safe as sending a command again.
    pub(super) async fn transaction(&self, pipeline: &Pipeline) -> RedisResult<Value> {
        self.send(Request::Transaction(pipeline)).await
    }

    async fn send<T: FromRedisValue>(&self, request: Request<'_>) -> RedisResult<T> {
        match self {
            Link::Single { pool, next } => {
                let index = next.fetch_add(1, Ordering::Relaxed) % pool.len();
                let mut connection = pool[index].clone();
                match request.send(&mut connection).await {
                    Err(error) if error.is_connection_dropped() => {
                        request.send(&mut connection).await
                    }
                    result => result,
                }
            }
            Link::Cluster(connection) => {
                let mut connection = connection.clone();
                match request.send(&mut connection).await {
                    Err(error) if unsent_on_cluster(&error) => {
                        // Give the client's reconnection a moment to start.
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        request.send(&mut connection).await
                    }
                    result => result,
                }
            }
            Link::Sentinel(link) => link.send(request).await,
        }
    }

    /// Runs a script invocation built by [`Script::command`]; a server without the script (a
    /// restart, `SCRIPT FLUSH`, a promoted replica) is sent its body.
    pub(super) async fn eval(&self, script: &Script, command: &Cmd) -> RedisResult<Value> {
        match self.query(command).await {
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.query(&script.by_body(command)).await
            }
            result => result,
        }
    }

    /// How many hashes have a key matching `pattern`: a `SCAN` of the server, or of every primary
    /// of the cluster.
    pub(super) async fn count_hashes(&self, pattern: &str) -> RedisResult<u64> {
        let scan = |cursor: u64| {
            let mut command = redis::cmd("SCAN");
            command
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .arg("TYPE")
                .arg("hash");
            command
        };
        let mut total = 0;
        match self {
            Link::Single { .. } | Link::Sentinel(_) => {
                let mut cursor = 0;
                loop {
                    let (next, keys): (u64, Vec<Vec<u8>>) = self.query(&scan(cursor)).await?;
                    total += keys.len() as u64;
                    if next == 0 {
                        return Ok(total);
                    }
                    cursor = next;
                }
            }
            Link::Cluster(connection) => {
                let mut connection = connection.clone();
                let nodes: String = redis::from_redis_value(
                    connection
                        .route_command(
                            redis::cmd("CLUSTER").arg("NODES").clone(),
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                        )
                        .await?,
                )?;
                for (host, port) in primaries(&nodes) {
                    let mut cursor = 0;
                    loop {
                        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port,
                        });
                        let reply = connection.route_command(scan(cursor), route).await?;
                        let (next, keys): (u64, Vec<Vec<u8>>) = redis::from_redis_value(reply)?;
                        total += keys.len() as u64;
                        if next == 0 {
                            break;
                        }
                        cursor = next;
                    }
                }
                Ok(total)
            }
        }
    }
}

/// What [`Link::send`] sends.
#[derive(Clone, Copy)]
pub(super) enum Request<'a> {
    Command(&'a Cmd),
    Transaction(&'a Pipeline),
}

impl Request<'_> {
    pub(super) async fn send<T: FromRedisValue>(
        self,
        connection: &mut (impl ConnectionLike + Send),
    ) -> RedisResult<T> {
        match self {
            Request::Command(command) => command.query_async(connection).await,
            Request::Transaction(pipeline) => pipeline.query_async(connection).await,
        }
    }
}

/// Whether a cluster command failed on a dead connection or without reaching the node that
/// serves its slot, so that sending it again is safe and likely to succeed.
fn unsent_on_cluster(error: &redis::RedisError) -> bool {
    error.is_connection_dropped()
        || error.is_cluster_error()
        || error.kind() == ErrorKind::ClusterConnectionNotFound
}

/// The addresses of the primaries that serve slots, from `CLUSTER NODES` output (one node per
/// line: id, `host:port@bus-port`, flags, primary, ping, pong, epoch, link state, slots...).
fn primaries(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            let serves_slots = fields.len() > 8;
            let primary = flags.split(',').any(|flag| flag == "master")
                && !flags.split(',').any(|flag| flag == "fail");
            if !(primary && serves_slots) {
                return None;
            }
            let address = fields.get(1)?.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some((host.to_string(), port.parse().ok()?))
        })
        .collect()
}

/// `text` with the glob characters `SCAN MATCH` knows escaped, for a literal prefix.
pub(super) fn glob_literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 4);
    for char in text.chars() {
        if matches!(char, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(char);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_serving_slots_are_read_from_cluster_nodes() {
        let nodes = "\
a1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:30002@40002 master - 0 0 2 connected 5461-10922
c3 127.0.0.1:30003@40003 master,fail - 0 0 3 disconnected 10923-16383
d4 127.0.0.1:30004@40004 slave a1 0 0 1 connected
e5 127.0.0.1:30005@40005 master - 0 0 5 connected
";
        assert_eq!(
            primaries(nodes),
            [
                ("127.0.0.1".to_string(), 30001),
                ("127.0.0.1".to_string(), 30002)
            ]
        );
    }

    #[test]
    fn prefixes_match_literally() {
        assert_eq!(glob_literal("s[1]*?\\:"), "s\\[1\\]\\*\\?\\\\:");
    }
}
