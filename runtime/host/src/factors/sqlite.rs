//! `spin:sqlite/sqlite@3.1.0` on rusqlite.
//!
//! Each guest `open` gets its own rusqlite connection, so `BEGIN ... COMMIT`
//! issued by a component stays on one connection, exactly as in Spin. Opening
//! a connection per guest open also means a database that became unusable is
//! noticed on the next request instead of being hidden by a cached handle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

use super::bindings::spin::sqlite::sqlite::{self as wit, Error, QueryResult, RowResult, Value};

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A backend that can open connections to one database.
pub trait SqliteBackend: Send + Sync {
    fn connect(&self) -> Result<Box<dyn SqliteConnection>, Error>;
}

/// One open connection. Calls block; the host runs them off the async runtime.
pub trait SqliteConnection: Send {
    fn query(&mut self, sql: &str, params: Vec<Value>) -> Result<QueryResult, Error>;
    fn changes(&self) -> u64;
    fn last_insert_rowid(&self) -> i64;
}

/// A SQLite database file (Spin's `type = "spin"`).
pub struct FileDatabase {
    path: PathBuf,
}

impl FileDatabase {
    /// Prepares the file (folder, WAL) at startup, so a bad path fails there.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        open_file(path)?;
        Ok(Self {
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection to the file (the host's own migrations use it too).
    pub fn open_connection(&self) -> rusqlite::Result<rusqlite::Connection> {
        connect_file(&self.path)
    }
}

/// Opens a SQLite file at startup, creating it and its folder if needed, and
/// switches it to WAL, which lets readers run while one writer commits (the
/// mode is stored in the file, so later connections need not set it).
pub fn open_file(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the folder of {}", path.display()))?;
    }
    let conn = connect_file(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .with_context(|| format!("switching {} to WAL", path.display()))?;
    Ok(conn)
}

/// A connection with the settings every user of a file shares.
fn connect_file(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL + NORMAL: a committed transaction survives a killed process;
    // only an OS crash or power loss can lose the last commits.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

impl SqliteBackend for FileDatabase {
    fn connect(&self) -> Result<Box<dyn SqliteConnection>, Error> {
        let conn = self.open_connection().map_err(io_error)?;
        Ok(Box::new(RusqliteConnection(conn)))
    }
}

struct RusqliteConnection(rusqlite::Connection);

impl SqliteConnection for RusqliteConnection {
    fn query(&mut self, sql: &str, params: Vec<Value>) -> Result<QueryResult, Error> {
        let mut stmt = self.0.prepare_cached(sql).map_err(io_error)?;
        let columns: Vec<String> = stmt.column_names().map(String::from).collect();
        let params = rusqlite::params_from_iter(params.into_iter().map(to_sql_value));
        let mut rows = stmt.query(params).map_err(io_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(io_error)? {
            let values = (0..columns.len())
                .map(|i| row.get_ref(i).map(from_sql_value))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(io_error)?;
            out.push(RowResult { values });
        }
        Ok(QueryResult { columns, rows: out })
    }

    fn changes(&self) -> u64 {
        self.0.changes()
    }

    fn last_insert_rowid(&self) -> i64 {
        self.0.last_insert_rowid()
    }
}

fn io_error(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => Error::DatabaseFull,
        _ => Error::Io(e.to_string()),
    }
}

fn to_sql_value(v: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Integer(i) => V::Integer(i),
        Value::Real(r) => V::Real(r),
        Value::Text(t) => V::Text(t),
        Value::Blob(b) => V::Blob(b),
        Value::Null => V::Null,
    }
}

fn from_sql_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef as V;
    match v {
        V::Null => Value::Null,
        V::Integer(i) => Value::Integer(i),
        V::Real(r) => Value::Real(r),
        V::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        V::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// The databases of the app, by label, shared by all instances.
pub type Databases = BTreeMap<String, Arc<dyn SqliteBackend>>;

/// A guest's open connection (the WIT `connection` resource).
pub struct GuestConnection(Arc<Mutex<Box<dyn SqliteConnection>>>);

/// Per-instance state: what this component may open, and what it has open.
pub struct SqliteState {
    allowed: Arc<BTreeSet<String>>,
    databases: Arc<Databases>,
    connections: ResourceTable,
}

impl SqliteState {
    pub fn new(allowed: Arc<BTreeSet<String>>, databases: Arc<Databases>) -> Self {
        Self {
            allowed,
            databases,
            connections: ResourceTable::new(),
        }
    }

    fn backend(&self, label: &str) -> Result<Arc<dyn SqliteBackend>, Error> {
        // Spin checks the allow-list first, so an unlisted label is
        // access-denied whether or not it exists.
        if !self.allowed.contains(label) {
            return Err(Error::AccessDenied);
        }
        self.databases
            .get(label)
            .cloned()
            .ok_or(Error::NoSuchDatabase)
    }

    fn push(
        &mut self,
        conn: Box<dyn SqliteConnection>,
    ) -> Result<Resource<GuestConnection>, Error> {
        self.connections
            .push(GuestConnection(Arc::new(Mutex::new(conn))))
            .map_err(|e| Error::Io(format!("too many open connections: {e}")))
    }

    fn get(
        &self,
        conn: &Resource<GuestConnection>,
    ) -> Result<Arc<Mutex<Box<dyn SqliteConnection>>>, Error> {
        self.connections
            .get(conn)
            .map(|c| c.0.clone())
            .map_err(|_| Error::InvalidConnection)
    }
}

/// Runs blocking SQLite work on tokio's blocking pool.
async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io(format!("sqlite worker failed: {e}")))?
}

async fn connect(backend: Arc<dyn SqliteBackend>) -> Result<Box<dyn SqliteConnection>, Error> {
    blocking(move || backend.connect()).await
}

async fn query(
    conn: Arc<Mutex<Box<dyn SqliteConnection>>>,
    sql: String,
    params: Vec<Value>,
) -> Result<QueryResult, Error> {
    blocking(move || {
        let mut conn = conn
            .lock()
            .map_err(|_| Error::Io("connection poisoned".into()))?;
        conn.query(&sql, params)
    })
    .await
}

fn lock(
    conn: &Mutex<Box<dyn SqliteConnection>>,
) -> wasmtime::Result<std::sync::MutexGuard<'_, Box<dyn SqliteConnection>>> {
    conn.lock()
        .map_err(|_| wasmtime::format_err!("sqlite connection poisoned"))
}

/// Marker for `add_to_linker`: the store data projects to `&mut SqliteState`.
pub struct SqliteFactor;

impl HasData for SqliteFactor {
    type Data<'a> = &'a mut SqliteState;
}

impl wit::Host for SqliteState {
    fn convert_error(&mut self, error: Error) -> wasmtime::Result<Error> {
        Ok(error)
    }
}

impl wit::HostConnection for SqliteState {
    async fn open(&mut self, database: String) -> Result<Resource<GuestConnection>, Error> {
        let backend = self.backend(&database)?;
        let conn = connect(backend).await?;
        self.push(conn)
    }

    async fn execute(
        &mut self,
        conn: Resource<GuestConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> Result<QueryResult, Error> {
        let conn = self.get(&conn)?;
        query(conn, statement, parameters).await
    }

    async fn last_insert_rowid(
        &mut self,
        conn: Resource<GuestConnection>,
    ) -> wasmtime::Result<i64> {
        let conn = self.get(&conn)?;
        Ok(lock(&conn)?.last_insert_rowid())
    }

    async fn changes(&mut self, conn: Resource<GuestConnection>) -> wasmtime::Result<u64> {
        let conn = self.get(&conn)?;
        Ok(lock(&conn)?.changes())
    }

    async fn drop(&mut self, conn: Resource<GuestConnection>) -> wasmtime::Result<()> {
        self.connections.delete(conn)?;
        Ok(())
    }
}

impl<T> wit::HostConnectionWithStore<T> for SqliteFactor {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> Result<Resource<GuestConnection>, Error> {
        let backend = accessor.with(|mut a| a.get().backend(&database))?;
        let conn = connect(backend).await?;
        accessor.with(|mut a| a.get().push(conn))
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<GuestConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> Result<
        (
            Vec<String>,
            StreamReader<RowResult>,
            FutureReader<Result<(), Error>>,
        ),
        Error,
    > {
        let conn = accessor.with(|mut a| a.get().get(&conn))?;
        let QueryResult { columns, rows } = query(conn, statement, parameters).await?;
        // The whole result is already read, so the stream is a plain list and
        // the completion future is resolved. The guest reads both.
        accessor
            .with(|mut a| {
                let rows = StreamReader::new(&mut a, rows)?;
                let done = FutureReader::new(&mut a, async { wasmtime::error::Ok(Ok(())) })?;
                wasmtime::error::Ok((columns, rows, done))
            })
            .map_err(|e| Error::Io(format!("returning rows: {e}")))
    }

    async fn last_insert_rowid_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<GuestConnection>,
    ) -> wasmtime::Result<i64> {
        let conn = accessor.with(|mut a| a.get().get(&conn))?;
        Ok(lock(&conn)?.last_insert_rowid())
    }

    async fn changes_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<GuestConnection>,
    ) -> wasmtime::Result<u64> {
        let conn = accessor.with(|mut a| a.get().get(&conn))?;
        Ok(lock(&conn)?.changes())
    }
}
