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
//! A pooled connection found dead (the server restarted since) empties the
//! pool and the command is retried once on a fresh connection (every command
//! used here is idempotent), so a restart costs no failed call.
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
    /// unless the error says it is broken (I/O, timeout, dropped). A pooled
    /// connection found dropped (the server restarted or failed over since
    /// it was last used) empties the pool, and `f` is run once more on a
    /// fresh connection: every command here is idempotent.
    fn with_conn<R>(
        &self,
        f: impl Fn(&mut redis::Connection) -> redis::RedisResult<R>,
    ) -> Result<R, Error> {
        let idle = self.idle.lock().ok().and_then(|mut i| i.pop());
        let result = match idle {
            Some(conn) => match self.run(conn, &f) {
                Err(e) if !e.is_timeout() && (e.is_io_error() || e.is_connection_dropped()) => {
                    if let Ok(mut idle) = self.idle.lock() {
                        idle.clear();
                    }
                    self.run(self.connect()?, &f)
                }
                other => other,
            },
            None => self.run(self.connect()?, &f),
        };
        result.map_err(|e| Error::Other(format!("redis at {}: {e}", self.url)))
    }

    /// Runs `f` on `conn`, then pools `conn` unless it is broken.
    fn run<R>(
        &self,
        mut conn: redis::Connection,
        f: &impl Fn(&mut redis::Connection) -> redis::RedisResult<R>,
    ) -> redis::RedisResult<R> {
        let result = f(&mut conn);
        let broken = result.as_ref().is_err_and(|e| {
            e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || e.is_unrecoverable_error()
        });
        if !broken
            && conn.is_open()
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
        result
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

    /// A real `redis-server` on a free port (Debian's package; .ci/run
    /// installs it), killed on drop.
    struct Server(std::process::Child, u16);

    impl Server {
        fn start(port: Option<u16>) -> Server {
            let port = port.unwrap_or_else(|| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            });
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server (apt-get install redis-server; .ci/run does)");
            let url = format!("redis://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .is_err()
            {
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            Server(child, port)
        }

        fn url(&self) -> String {
            format!("redis://127.0.0.1:{}", self.1)
        }

        fn cmd(&self, args: &[&str]) {
            let client = redis::Client::open(self.url()).unwrap();
            let mut conn = client.get_connection().unwrap();
            let mut cmd = redis::cmd(args[0]);
            for a in &args[1..] {
                cmd.arg(*a);
            }
            cmd.query::<redis::Value>(&mut conn).unwrap();
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn stores_on_one_redis_are_apart_and_survive_a_restart() {
        let server = Server::start(None);
        let a = RedisKeyValue::open("default", &server.url()).unwrap();
        let b = RedisKeyValue::open("other*", &server.url()).unwrap();
        a.set("k", b"from a").unwrap();
        a.set("k2", b"").unwrap();
        b.set("k", b"from b").unwrap();
        assert_eq!(a.get("k").unwrap().as_deref(), Some(&b"from a"[..]));
        assert_eq!(b.get("k").unwrap().as_deref(), Some(&b"from b"[..]));
        assert_eq!(a.keys().unwrap(), ["k", "k2"]);
        assert_eq!(b.keys().unwrap(), ["k"]);
        assert!(a.exists("k2").unwrap());
        a.delete("k2").unwrap();
        a.delete("never-there").unwrap();
        assert!(!a.exists("k2").unwrap());
        assert_eq!(a.get("k2").unwrap(), None);

        // A full Redis refuses writes: an error value; reads still work.
        server.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
        server.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
        let Err(Error::Other(e)) = a.set("k", b"new") else {
            panic!("a write past maxmemory was accepted");
        };
        assert!(e.contains("OOM"), "{e}");
        assert_eq!(a.get("k").unwrap().as_deref(), Some(&b"from a"[..]));
        server.cmd(&["CONFIG", "SET", "maxmemory", "0"]);

        // Killed: errors; restarted on the same port: the pool reconnects.
        let port = server.1;
        drop(server);
        assert!(matches!(a.get("k"), Err(Error::Other(_))));
        let _server = Server::start(Some(port));
        std::thread::sleep(RECONNECT_BACKOFF);
        a.set("k", b"again").unwrap();
        assert_eq!(a.get("k").unwrap().as_deref(), Some(&b"again"[..]));

        // Restarted between two calls: the pooled connection is dead, and
        // the call retries on a fresh one instead of failing.
        drop(_server);
        let _server = Server::start(Some(port));
        assert_eq!(a.get("k").unwrap(), None);
        a.set("k", b"third").unwrap();
        assert_eq!(a.keys().unwrap(), ["k"]);
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
