//! The Redis online store (`redis://`): rows kept in one Redis primary, so API servers in
//! other processes read what the processor writes. [`RedisStore`] documents the URL.
//!
//! A value is the row in `codec.rs`'s binary form. A write is one pipeline per
//! [`WRITE_BATCH`] rows, each row set by a Lua script that keeps the stored row if its
//! `as_of_ms` is newer, so "newer wins" holds against concurrent writers; a read is one
//! `MGET`. A connection that turns out dead is replaced and the command sent again, once
//! (writes are idempotent).

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use redis::{Connection, ErrorKind, RedisError, RedisResult};

use super::{codec, FeatureReader, OnlineStore};
use crate::engine::FeatureRow;
use crate::metrics as m;
use crate::{Error, Result};

/// Rows per pipeline (one round trip each): bounds the request and reply buffers.
pub const WRITE_BATCH: usize = 1_000;

const DEFAULT_PREFIX: &str = "tailor:";
const DEFAULT_POOL_SIZE: usize = 16;
const DEFAULT_TIMEOUT_MS: u64 = 5_000;
const OPTIONS: &str = "prefix, ttl_secs, pool_size, timeout_ms";
const URL_SHAPE: &str = "redis://[user:password@]host[:port][/db][?prefix=...&ttl_secs=...]";

/// KEYS[1]: the row's key. ARGV[1]: the encoded row. ARGV[2]: TTL in seconds, 0 for none.
/// Sets the row unless the stored one is a Tailor row of a later as_of (bytes 2..9, ordered
/// as the times); returns 1 if set. Bytes are compared one by one: Lua's string comparison
/// follows the server's locale.
const SET_IF_NOT_OLDER: &str = r"
local old = redis.call('GET', KEYS[1])
local new = ARGV[1]
if old and string.len(old) >= 9 and string.byte(old, 1) == string.byte(new, 1) then
  for i = 2, 9 do
    local a, b = string.byte(old, i), string.byte(new, i)
    if a > b then return 0 end
    if a < b then break end
  end
end
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], new)
else
  redis.call('SET', KEYS[1], new, 'EX', ARGV[2])
end
return 1
";

/// Feature rows in Redis, opened from
/// `redis://[user:password@]host[:port][/db][?option=value&...]` with options:
///
/// - `prefix` (default `tailor:`): start of every key; the row of entity kind `entity` and
///   id `id` is at `{prefix}f:{entity}:{id}`, so `tailor:f:item:P1` or
///   `tailor:f:property:brand:Acme` (`%` and `:` in the entity past `property:` are written
///   `%25` and `%3A`, and a bare `property` as `property%`, so rows never share a key).
/// - `ttl_secs` (default none): rows expire this long after their last write. Set it to the
///   engine's entity TTL so entities the engine forgets leave Redis too.
/// - `pool_size` (default 16): connections at most; callers beyond wait for a free one.
/// - `timeout_ms` (default 5000): for connecting, for each reply and for a free connection.
///
/// Not supported, and refused at start: TLS (`rediss://`; this build has no TLS) and Redis
/// Cluster (several hosts, or `redis+cluster://`: the redis crate's blocking cluster client
/// cannot pipeline `EVALSHA`). Passwords never appear in errors or logs ([`redact`]).
pub struct RedisStore {
    pool: Pool,
    /// The URL with its password masked, for errors and logs.
    pub(super) shown: String,
    /// `host:port`, for errors.
    addr: String,
    /// The URL's password, raw and decoded, never to appear in a message.
    secrets: Vec<String>,
    pub(super) prefix: String,
    /// Seconds, 0 for none (the script's ARGV[2]).
    pub(super) ttl_secs: u64,
    script_sha: String,
}

impl RedisStore {
    /// Connects and checks the server answers (`PING`), so a wrong URL fails at start.
    pub fn open(url: &str) -> Result<RedisStore> {
        let shown = redact(url);
        let fail = |reason: String| Error::OnlineStore {
            store: shown.clone(),
            reason,
        };
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        let authority = url.split_once("://").map_or("", |(_, rest)| {
            rest.split(['/', '?', '#']).next().unwrap_or("")
        });
        if scheme.ends_with("+cluster") || authority.contains(',') {
            return Err(fail(
                "Redis Cluster is not supported (the redis crate's blocking cluster client cannot \
                 pipeline the Lua scripts that keep writes newer-wins); name one primary: \
                 redis://host:port[/db]"
                    .into(),
            ));
        }
        if scheme == "rediss" {
            return Err(fail(
                "TLS (rediss://) is not compiled into this build; use redis:// on a private \
                 network or through a TLS tunnel such as stunnel"
                    .into(),
            ));
        }
        let mut parsed = redis::parse_redis_url(url)
            .filter(|u| u.scheme() == "redis")
            .ok_or_else(|| fail(format!("not a Redis URL; expected {URL_SHAPE}")))?;
        let mut prefix = DEFAULT_PREFIX.to_owned();
        let mut ttl_secs = 0;
        let mut pool_size = DEFAULT_POOL_SIZE;
        let mut timeout_ms = DEFAULT_TIMEOUT_MS;
        for (key, value) in parsed.query_pairs() {
            let positive = || {
                value.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    fail(format!(
                        "option {key}={value:?} must be a whole number above 0"
                    ))
                })
            };
            match &*key {
                "prefix" => prefix = value.clone().into_owned(),
                "ttl_secs" => ttl_secs = positive()?,
                "pool_size" => pool_size = positive()? as usize,
                "timeout_ms" => timeout_ms = positive()?,
                _ => {
                    return Err(fail(format!(
                        "unknown option {key:?}; the options are {OPTIONS}"
                    )))
                }
            }
        }
        let mut secrets: Vec<String> = parsed.password().map(str::to_owned).into_iter().collect();
        parsed.set_query(None);
        let client = redis::Client::open(parsed).map_err(|e| {
            let e = e.to_string();
            let e = e.trim_end_matches(" - InvalidClientConfig");
            fail(format!("{e}; expected {URL_SHAPE}"))
        })?;
        let info = client.get_connection_info();
        let addr = info.addr().to_string();
        secrets.extend(info.redis_settings().password().map(str::to_owned));
        secrets.retain(|s| !s.is_empty());
        let timeout = Duration::from_millis(timeout_ms);
        let mut store = RedisStore {
            pool: Pool {
                client,
                size: pool_size,
                timeout,
                state: Mutex::new(PoolState {
                    idle: Vec::new(),
                    open: 0,
                }),
                freed: Condvar::new(),
            },
            shown,
            addr,
            secrets,
            prefix,
            ttl_secs,
            script_sha: String::new(),
        };
        store.script_sha = store.run("connect", |con| {
            redis::cmd("PING").exec(con)?;
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(SET_IF_NOT_OLDER)
                .query(con)
        })?;
        tracing::info!(
            store = %store.shown,
            prefix = %store.prefix,
            ttl_secs = store.ttl_secs,
            "online feature store: Redis"
        );
        Ok(store)
    }

    /// Runs `f` on a pooled connection; if the connection turns out dead, runs it once more on
    /// a new one.
    pub(super) fn run<T>(
        &self,
        op: &'static str,
        f: impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
        let mut con = self.checkout()?;
        let e = match f(&mut con) {
            Ok(v) => {
                self.pool.put(con);
                return Ok(v);
            }
            Err(e) if e.is_io_error() && !e.is_timeout() => e,
            Err(e) => {
                self.pool.done(con, &e);
                return Err(self.fail(op, &e));
            }
        };
        tracing::warn!(
            store = %self.shown,
            error = %self.scrub(e.to_string()),
            "Redis connection lost; reconnecting once"
        );
        self.pool.discard(con);
        // The idle ones likely died with it (a restart, a failover): replace them all.
        self.pool.clear_idle();
        let mut con = self.checkout()?;
        match f(&mut con) {
            Ok(v) => {
                self.pool.put(con);
                Ok(v)
            }
            Err(e) => {
                self.pool.done(con, &e);
                Err(self.fail(op, &e))
            }
        }
    }

    fn checkout(&self) -> Result<Connection> {
        match self.pool.take() {
            Ok(Some(con)) => Ok(con),
            Ok(None) => {
                metrics::counter!(m::ONLINE_STORE_ERRORS, "backend" => "redis", "op" => "connect")
                    .increment(1);
                Err(Error::OnlineStore {
                    store: self.shown.clone(),
                    reason: format!(
                        "all {} connections stayed busy for {} ms; raise pool_size",
                        self.pool.size,
                        self.pool.timeout.as_millis()
                    ),
                })
            }
            Err(e) => Err(self.fail("connect", &e)),
        }
    }

    /// Counts the error and says what happened in words a user can act on.
    pub(super) fn fail(&self, op: &'static str, e: &RedisError) -> Error {
        metrics::counter!(m::ONLINE_STORE_ERRORS, "backend" => "redis", "op" => op).increment(1);
        let addr = &self.addr;
        let reason = if e.is_connection_refusal() {
            format!("connection refused at {addr}; is Redis running and listening there?")
        } else if e.is_timeout() {
            format!(
                "no answer from {addr} within {} ms (raise timeout_ms if the server is just slow)",
                self.pool.timeout.as_millis()
            )
        } else if e.kind() == ErrorKind::AuthenticationFailed
            || matches!(e.code(), Some("WRONGPASS" | "NOAUTH"))
        {
            format!("authentication failed at {addr} ({e}); check the user and password in the URL")
        } else if op == "connect" {
            format!("cannot connect to {addr}: {e}")
        } else if e.is_io_error() {
            format!("connection to {addr} lost during {op}: {e}")
        } else {
            format!("{op} at {addr} failed: {e}")
        };
        Error::OnlineStore {
            store: self.shown.clone(),
            reason: self.scrub(reason),
        }
    }

    /// Masks the password wherever it shows up in a message.
    fn scrub(&self, mut text: String) -> String {
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }
}

impl FeatureReader for RedisStore {
    fn is_remote(&self) -> bool {
        true
    }

    fn read_many(&self, entity: &str, ids: &[String]) -> Result<Vec<Option<FeatureRow>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let keys: Vec<String> = ids
            .iter()
            .map(|id| row_key(&self.prefix, entity, id))
            .collect();
        let values: Vec<Option<Vec<u8>>> =
            self.run("read", |con| redis::cmd("MGET").arg(&keys).query(con))?;
        if values.len() != ids.len() {
            return Err(Error::OnlineStore {
                store: self.shown.clone(),
                reason: format!(
                    "MGET of {} keys returned {} values",
                    ids.len(),
                    values.len()
                ),
            });
        }
        let rows = values
            .into_iter()
            .zip(ids.iter().zip(&keys))
            .map(|(value, (id, key))| {
                let bytes = value?;
                match codec::decode(entity, id, &bytes) {
                    Ok(row) => Some(row),
                    Err(reason) => {
                        metrics::counter!(m::ONLINE_STORE_ERRORS, "backend" => "redis", "op" => "decode")
                            .increment(1);
                        tracing::warn!(key = %key, reason = %reason, "not a Tailor feature row; read as missing");
                        None
                    }
                }
            })
            .collect();
        metrics::histogram!(m::ONLINE_STORE_READ_SECONDS, "backend" => "redis")
            .record(started.elapsed().as_secs_f64());
        Ok(rows)
    }
}

impl OnlineStore for RedisStore {
    fn write(&self, rows: Vec<FeatureRow>) -> Result<()> {
        let started = Instant::now();
        let mut value = Vec::new();
        for batch in rows.chunks(WRITE_BATCH) {
            let mut pipe = redis::pipe();
            // Loaded again with every batch (same round trip): a restarted or failed-over
            // server has an empty script cache.
            pipe.cmd("SCRIPT")
                .arg("LOAD")
                .arg(SET_IF_NOT_OLDER)
                .ignore();
            for row in batch {
                value.clear();
                codec::encode(row, &mut value);
                pipe.cmd("EVALSHA")
                    .arg(&self.script_sha)
                    .arg(1)
                    .arg(row_key(&self.prefix, &row.entity, &row.id))
                    .arg(value.as_slice())
                    .arg(self.ttl_secs)
                    .ignore();
            }
            self.run("write", |con| pipe.exec(con))?;
        }
        if !rows.is_empty() {
            metrics::histogram!(m::ONLINE_STORE_WRITE_SECONDS, "backend" => "redis")
                .record(started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    fn delete(&self, entity: &str, ids: &[String]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let keys: Vec<String> = ids
            .iter()
            .map(|id| row_key(&self.prefix, entity, id))
            .collect();
        self.run("delete", |con| redis::cmd("DEL").arg(&keys).query(con))
    }
}

/// At most `size` connections; idle ones are reused, callers beyond wait for one.
struct Pool {
    client: redis::Client,
    size: usize,
    timeout: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    idle: Vec<Connection>,
    /// Connections handed out or idle.
    open: usize,
}

impl Pool {
    /// A connection: an idle one, else a new one if fewer than `size` are open, else the
    /// first one given back within `timeout`; `None` if none was.
    fn take(&self) -> RedisResult<Option<Connection>> {
        let deadline = Instant::now() + self.timeout;
        let mut state = self.state.lock();
        loop {
            if let Some(con) = state.idle.pop() {
                return Ok(Some(con));
            }
            if state.open < self.size {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(con) => Ok(Some(con)),
                    Err(e) => {
                        self.release();
                        Err(e)
                    }
                };
            }
            if self.freed.wait_until(&mut state, deadline).timed_out() {
                return Ok(None);
            }
        }
    }

    fn connect(&self) -> RedisResult<Connection> {
        let con = self.client.get_connection_with_timeout(self.timeout)?;
        con.set_read_timeout(Some(self.timeout))?;
        con.set_write_timeout(Some(self.timeout))?;
        Ok(con)
    }

    fn put(&self, con: Connection) {
        self.state.lock().idle.push(con);
        self.freed.notify_one();
    }

    /// Gives back a connection after `e`: kept if the server answered with an error (the
    /// connection is in step), dropped otherwise.
    fn done(&self, con: Connection, e: &RedisError) {
        if matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension) {
            self.put(con);
        } else {
            self.discard(con);
        }
    }

    fn discard(&self, con: Connection) {
        drop(con);
        self.release();
    }

    /// One connection handed out is gone.
    fn release(&self) {
        self.state.lock().open -= 1;
        self.freed.notify_one();
    }

    fn clear_idle(&self) {
        let idle = {
            let mut state = self.state.lock();
            let idle = std::mem::take(&mut state.idle);
            state.open -= idle.len();
            idle
        };
        drop(idle);
        self.freed.notify_all();
    }
}

/// The key of one row: `{prefix}f:{entity}:{id}`, the entity escaped so that no two rows
/// share a key.
fn row_key(prefix: &str, entity: &str, id: &str) -> String {
    entity_key(prefix, "f:", entity, id)
}

/// `{prefix}{tag}{entity}:{id}`, the entity escaped as in [`row_key`].
pub(super) fn entity_key(prefix: &str, tag: &str, entity: &str, id: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + tag.len() + entity.len() + id.len() + 1);
    key.push_str(prefix);
    key.push_str(tag);
    match entity.strip_prefix("property:") {
        Some(name) => {
            key.push_str("property:");
            escape_into(&mut key, name);
        }
        // As is, `property` with id `x:y` would meet `property:x` with id `y`.
        None if entity == "property" => key.push_str("property%"),
        None => escape_into(&mut key, entity),
    }
    key.push(':');
    key.push_str(id);
    key
}

/// Appends `s` with `%` and `:` written `%25` and `%3A`.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            c => out.push(c),
        }
    }
}

/// `url` with the password masked: `redis://user:secret@host` → `redis://user:***@host`.
/// A URL that does not parse is masked from the first `:` after `scheme://` to the last `@`
/// (a password with a raw `/` or `@` in it, say): more than needed rather than too little.
pub fn redact(url: &str) -> String {
    if let Some(mut parsed) = redis::parse_redis_url(url) {
        if parsed.password().is_none() || parsed.set_password(Some("***")).is_ok() {
            return parsed.to_string();
        }
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_entity_and_id() {
        for (entity, id, key) in [
            ("item", "P1", "t:f:item:P1"),
            ("property:brand", "Acme:X", "t:f:property:brand:Acme:X"),
            ("property:a:b%", "c", "t:f:property:a%3Ab%25:c"),
            ("property", "a:c", "t:f:property%:a:c"),
            ("odd:kind", "", "t:f:odd%3Akind:"),
        ] {
            assert_eq!(row_key("t:", entity, id), key);
        }
    }

    #[test]
    fn passwords_are_masked() {
        for (url, shown) in [
            ("redis://u:p@h:1/0?prefix=a", "redis://u:***@h:1/0?prefix=a"),
            ("redis://:p%40w@h", "redis://:***@h"),
            ("redis://:p@w@h", "redis://:***@h"),
            ("redis://u:pa/ss@h:1", "redis://u:***@h:1"),
            ("redis://u:p@h/0?prefix=a@b", "redis://u:***@h/0?prefix=a@b"),
            ("redis://u@h", "redis://u@h"),
            ("redis://h:6379", "redis://h:6379"),
            ("redis://h/0?prefix=a@b", "redis://h/0?prefix=a@b"),
            ("rediss://u:p@h", "rediss://u:***@h"),
            ("cassandra://u:p@h/x", "cassandra://u:***@h/x"),
            ("nonsense", "nonsense"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }
}
