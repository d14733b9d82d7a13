//! `spin:key-value/key-value@3.0.0` on a SQLite file, in Spin's own layout
//! (table `spin_key_value(store, key, value)`), so a state dir written here
//! can be read by `spin up` and the other way round.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rusqlite::OptionalExtension as _;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

use super::bindings::spin::key_value::key_value::{self as wit, Error};

/// A key-value backend for one store label. Calls may block; the host runs
/// them on tokio's blocking pool, except `get_now`.
pub trait KeyValueBackend: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;
    /// `get`, answered on the caller's thread when that cannot block (a
    /// local read on an idle connection), else `None`: the gateway reads
    /// one key per call, and a hand-off to another thread costs more than
    /// the read.
    fn get_now(&self, _key: &str) -> Option<Result<Option<Vec<u8>>, Error>> {
        None
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    fn delete(&self, key: &str) -> Result<(), Error>;
    fn exists(&self, key: &str) -> Result<bool, Error>;
    fn keys(&self) -> Result<Vec<String>, Error>;
}

/// A store kept in a SQLite file. Writes go through one shared connection
/// (SQLite serializes writers anyway); reads take one of a few read
/// connections, so a read never waits behind a write or another read (WAL
/// lets readers run while a writer commits).
pub struct SqliteKeyValue {
    label: String,
    path: PathBuf,
    writer: Mutex<rusqlite::Connection>,
    readers: Mutex<Vec<rusqlite::Connection>>,
}

/// Idle read connections kept per store; more are opened under load and
/// closed when they come back.
const MAX_IDLE_READERS: usize = 4;

impl SqliteKeyValue {
    pub fn open(label: &str, path: &Path) -> anyhow::Result<Self> {
        let conn = super::sqlite::open_file(path)?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )
        .with_context(|| format!("preparing key-value store {}", path.display()))?;
        Ok(Self {
            label: label.to_owned(),
            path: path.to_owned(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn with_conn<R>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<R>,
    ) -> Result<R, Error> {
        let conn = self
            .writer
            .lock()
            .map_err(|_| Error::Other("key-value connection poisoned".into()))?;
        f(&conn).map_err(|e| Error::Other(e.to_string()))
    }

    /// Runs a read on a read connection of its own. A connection whose read
    /// failed is closed rather than kept.
    fn with_reader<R>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<R>,
    ) -> Result<R, Error> {
        let idle = self.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => {
                super::sqlite::connect_file(&self.path).map_err(|e| Error::Other(e.to_string()))?
            }
        };
        let result = f(&conn).map_err(|e| Error::Other(e.to_string()));
        if result.is_ok() {
            self.keep_reader(conn);
        }
        result
    }

    /// Keeps a read connection that worked for the next read, if there is
    /// room among the idle ones.
    fn keep_reader(&self, conn: rusqlite::Connection) {
        if conn.is_autocommit()
            && let Ok(mut readers) = self.readers.lock()
            && readers.len() < MAX_IDLE_READERS
        {
            readers.push(conn);
        }
    }
}

const GET_VALUE: &str = "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2";

impl KeyValueBackend for SqliteKeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.with_reader(|c| {
            c.prepare_cached(GET_VALUE)?
                .query_row((&self.label, key), |r| r.get(0))
                .optional()
        })
    }

    fn get_now(&self, key: &str) -> Option<Result<Option<Vec<u8>>, Error>> {
        let conn = self.readers.lock().ok()?.pop()?;
        // Without a busy handler a read that would wait (rare in WAL mode:
        // a checkpoint resetting the log) fails at once instead of sleeping.
        if conn.busy_timeout(std::time::Duration::ZERO).is_err() {
            return None;
        }
        let result = conn
            .prepare_cached(GET_VALUE)
            .and_then(|mut stmt| stmt.query_row((&self.label, key), |r| r.get(0)).optional());
        let restored = conn.busy_timeout(super::sqlite::BUSY_TIMEOUT).is_ok();
        match result {
            Ok(value) => {
                if restored {
                    self.keep_reader(conn);
                }
                Some(Ok(value))
            }
            // Busy: the blocking path reads again and may wait.
            Err(e) if super::sqlite::is_busy(&e) => {
                if restored {
                    self.keep_reader(conn);
                }
                None
            }
            Err(e) => Some(Err(Error::Other(e.to_string()))),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.with_conn(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute((&self.label, key, value))
            .map(drop)
        })
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.with_conn(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute((&self.label, key))
                .map(drop)
        })
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        self.with_reader(|c| {
            c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .exists((&self.label, key))
        })
    }

    fn keys(&self) -> Result<Vec<String>, Error> {
        self.with_reader(|c| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?
                .query_map([&self.label], |r| r.get(0))?
                .collect()
        })
    }
}

/// The key-value stores of the app, by label, shared by all instances.
pub type Stores = BTreeMap<String, Arc<dyn KeyValueBackend>>;

/// A guest's open store (the WIT `store` resource).
pub struct GuestStore(Arc<dyn KeyValueBackend>);

/// Per-instance state: which stores this component may open, and its handles.
pub struct KeyValueState {
    allowed: Arc<BTreeSet<String>>,
    stores: Arc<Stores>,
    open: ResourceTable,
}

impl KeyValueState {
    pub fn new(allowed: Arc<BTreeSet<String>>, stores: Arc<Stores>) -> Self {
        Self {
            allowed,
            stores,
            open: ResourceTable::new(),
        }
    }

    fn open(&mut self, label: &str) -> Result<Resource<GuestStore>, Error> {
        if !self.allowed.contains(label) {
            return Err(Error::AccessDenied);
        }
        let store = self.stores.get(label).cloned().ok_or(Error::NoSuchStore)?;
        self.open
            .push(GuestStore(store))
            .map_err(|_| Error::StoreTableFull)
    }

    fn get(&self, store: &Resource<GuestStore>) -> Result<Arc<dyn KeyValueBackend>, Error> {
        self.open
            .get(store)
            .map(|s| s.0.clone())
            .map_err(|e| Error::Other(format!("invalid store handle: {e}")))
    }
}

/// Runs a blocking backend call on tokio's blocking pool.
async fn blocking<R: Send + 'static>(
    accessor_store: Arc<dyn KeyValueBackend>,
    f: impl FnOnce(&dyn KeyValueBackend) -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    tokio::task::spawn_blocking(move || f(accessor_store.as_ref()))
        .await
        .map_err(|e| Error::Other(format!("key-value worker failed: {e}")))?
}

/// Marker for `add_to_linker`: the store data projects to `&mut KeyValueState`.
pub struct KeyValueFactor;

impl HasData for KeyValueFactor {
    type Data<'a> = &'a mut KeyValueState;
}

impl wit::Host for KeyValueState {
    fn convert_error(&mut self, error: Error) -> wasmtime::Result<Error> {
        Ok(error)
    }
}

impl wit::HostStore for KeyValueState {
    async fn drop(&mut self, store: Resource<GuestStore>) -> wasmtime::Result<()> {
        self.open.delete(store)?;
        Ok(())
    }
}

impl<T> wit::HostStoreWithStore<T> for KeyValueFactor {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> Result<Resource<GuestStore>, Error> {
        accessor.with(|mut a| a.get().open(&label))
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<GuestStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        let backend = accessor.with(|mut a| a.get().get(&store))?;
        if let Some(value) = backend.get_now(&key) {
            return value;
        }
        blocking(backend, move |b| b.get(&key)).await
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<GuestStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        let backend = accessor.with(|mut a| a.get().get(&store))?;
        blocking(backend, move |b| b.set(&key, &value)).await
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<GuestStore>,
        key: String,
    ) -> Result<(), Error> {
        let backend = accessor.with(|mut a| a.get().get(&store))?;
        blocking(backend, move |b| b.delete(&key)).await
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<GuestStore>,
        key: String,
    ) -> Result<bool, Error> {
        let backend = accessor.with(|mut a| a.get().get(&store))?;
        blocking(backend, move |b| b.exists(&key)).await
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<GuestStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), Error>>)> {
        let keys = match accessor.with(|mut a| a.get().get(&store)) {
            Ok(backend) => blocking(backend, |b| b.keys()).await,
            Err(e) => Err(e),
        };
        // Errors travel in the completion future, after an empty key stream.
        let (keys, result) = match keys {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(e)),
        };
        accessor.with(|mut a| {
            let keys = StreamReader::new(&mut a, keys)?;
            let done = FutureReader::new(&mut a, async move { wasmtime::error::Ok(result) })?;
            Ok((keys, done))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_now_answers_only_on_an_idle_read_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteKeyValue::open("default", &dir.path().join("kv.db")).unwrap();
        store.set("k", b"v1").unwrap();
        // No read connection is open yet: opening one is file I/O, left to
        // the blocking pool.
        assert!(store.get_now("k").is_none());
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"v1"[..]));
        // Now one is idle; it sees the latest write and comes back after.
        store.set("k", b"v2").unwrap();
        assert_eq!(
            store.get_now("k").unwrap().unwrap().as_deref(),
            Some(&b"v2"[..])
        );
        assert_eq!(store.get_now("missing").unwrap().unwrap(), None);
    }
}
