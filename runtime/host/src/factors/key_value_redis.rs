//! `type = "redis"` key-value stores: any Redis or Valkey server, shared by
//! every runtime process configured with the same URL (what makes a cache
//! shared across replicas).
//!
//! Keys are stored as `<label>:<key>`, so several stores (and several apps
//! using different labels) can share one Redis database without colliding.
//! Spin's own Redis store (crates/key-value-redis) writes the key as is and
//! lists keys with `KEYS *`, i.e. it expects one Redis database per store;
//! so do not point `spin up` and `prompthelm up` at the same Redis and expect
//! them to see each other's keys.
//!
//! Every failure (server down, connection dropped, timeout, a refused write
//! such as `OOM command not allowed` under `maxmemory` + `noeviction`) is the
//! WIT `error` variant, never a trap. Connections come from a small idle
//! pool; one that saw an I/O error is dropped, and the next call reconnects.
//! After a failed connect, calls fail fast for [`RECONNECT_BACKOFF`] so a
//! dead server costs each request a few microseconds, not a connect timeout.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use redis::ConnectionLike as _;

use super::bindings::spin::key_value::key_value::Error;
use super::key_value::KeyValueBackend;

/// Connect timeout; a local or in-cluster Redis answers in well under this.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Read/write timeout per command.
const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed connect, calls fail at once for this long.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);
/// Idle connections kept per store; more are opened under load.
const MAX_IDLE: usize = 8;
/// `SCAN` batch size for `get-keys`.
const SCAN_COUNT: usize = 1000;

/// One store label on a Redis server.
pub struct RedisKeyValue {
    url: String,
    client: redis::Client,
    prefix: String,
    idle: Mutex<Vec<redis::Connection>>,
    failed_connect: Mutex<Option<Instant>>,
}

impl RedisKeyValue {
    /// Checks the URL; the server is only tried (not required) here: a
    /// Redis that is down at start is a degraded cache, not a failed start.
    pub fn open(label: &str, url: &str) -> anyhow::Result<Self> {
        if url.starts_with("rediss://") || url.starts_with("valkeys://") {
            bail!(
                "{url:?}: TLS Redis URLs are not supported by the local runtime (use redis://; \
                 real Spin supports rediss://)"
            );
        }
        let client =
            redis::Client::open(url).with_context(|| format!("invalid Redis URL {url:?}"))?;
        let store = Self {
            url: redact(url),
            client,
            prefix: format!("{label}:"),
            idle: Mutex::new(Vec::new()),
            failed_connect: Mutex::new(None),
        };
        if let Err(e) = store.with_conn(|c| redis::cmd("PING").query::<String>(c)) {
            eprintln!(
                "warning: key-value store `{label}`: Redis at {} is not reachable yet ({e:?}); \
                 key-value calls fail until it is",
                store.url
            );
        }
        Ok(store)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn connect(&self) -> Result<redis::Connection, Error> {
        if let Ok(failed) = self.failed_connect.lock()
            && let Some(at) = *failed
            && at.elapsed() < RECONNECT_BACKOFF
        {
            return Err(Error::Other(format!(
                "redis at {} is unreachable (retrying shortly)",
                self.url
            )));
        }
        let conn = self
            .client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .and_then(|c| {
                c.set_read_timeout(Some(IO_TIMEOUT))?;
                c.set_write_timeout(Some(IO_TIMEOUT))?;
                Ok(c)
            });
        let mut failed = self.failed_connect.lock().ok();
        match conn {
            Ok(c) => {
                if let Some(f) = failed.as_deref_mut() {
                    *f = None;
                }
                Ok(c)
            }
            Err(e) => {
                if let Some(f) = failed.as_deref_mut() {
                    *f = Some(Instant::now());
                }
                Err(Error::Other(format!("redis at {}: {e}", self.url)))
            }
        }
    }

    /// Runs `f` on a pooled connection. The connection goes back to the pool
    /// unless the error says it is broken (I/O, timeout, dropped).
    fn with_conn<R>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<R>,
    ) -> Result<R, Error> {
        let idle = self.idle.lock().ok().and_then(|mut i| i.pop());
        let mut conn = match idle {
            Some(c) => c,
            None => self.connect()?,
        };
        let result = f(&mut conn);
        let reusable = match &result {
            Ok(_) => true,
            Err(e) => {
                !(e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_unrecoverable_error())
            }
        };
        if reusable
            && conn.is_open()
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
        result.map_err(|e| Error::Other(format!("redis at {}: {e}", self.url)))
    }
}

impl KeyValueBackend for RedisKeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let key = self.key(key);
        self.with_conn(|c| redis::cmd("GET").arg(&key).query(c))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        let key = self.key(key);
        self.with_conn(|c| redis::cmd("SET").arg(&key).arg(value).query(c))
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        let key = self.key(key);
        self.with_conn(|c| redis::cmd("DEL").arg(&key).query::<i64>(c).map(drop))
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        let key = self.key(key);
        self.with_conn(|c| redis::cmd("EXISTS").arg(&key).query(c))
    }

    fn keys(&self) -> Result<Vec<String>, Error> {
        let pattern = format!("{}*", glob_escape(&self.prefix));
        let mut keys = self.with_conn(|c| {
            let mut keys = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .query(c)?;
                keys.extend(batch);
                if next == 0 {
                    return Ok(keys);
                }
                cursor = next;
            }
        })?;
        // SCAN may return a key twice; the SQLite store answers sorted.
        keys.sort();
        keys.dedup();
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
            .collect())
    }
}

/// Escapes Redis glob metacharacters so a label matches only itself.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_and_globs_escaped() {
        assert_eq!(redact("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        assert_eq!(glob_escape("a*b?[c]\\:"), "a\\*b\\?\\[c\\]\\\\:");
    }

    #[test]
    fn a_server_that_is_down_is_an_error_value_and_fails_fast() {
        // Port 1 on localhost: nothing listens there.
        let store = RedisKeyValue::open("default", "redis://127.0.0.1:1").unwrap();
        let started = Instant::now();
        for _ in 0..100 {
            assert!(matches!(store.get("k"), Err(Error::Other(_))));
            assert!(matches!(store.set("k", b"v"), Err(Error::Other(_))));
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(RedisKeyValue::open("x", "rediss://h").is_err());
    }
}
