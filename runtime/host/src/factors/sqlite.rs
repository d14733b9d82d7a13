//! `spin:sqlite/sqlite@3.1.0` on rusqlite.
//!
//! Each guest `open` gets a rusqlite connection of its own for as long as it
//! holds it, so `BEGIN ... COMMIT` issued by a component stays on one
//! connection, exactly as in Spin. Connections come from a bounded pool per
//! database ([`FileDatabase`]): a guest's close hands its connection back
//! (rolled back first if the guest left a transaction open), so the schema
//! is parsed once per connection and `prepare_cached` hits. A connection on
//! which a statement changed connection state (PRAGMA, ATTACH, DETACH, TEMP
//! objects) or failed in a way that may leave it odd is closed instead.
//!
//! Every database also keeps one long-lived "keeper" connection, so the
//! last guest close is never the last close of the file: SQLite does not
//! checkpoint the WAL (with its fsyncs) and delete `-wal`/`-shm` on every
//! request. Guest connections do not checkpoint themselves: SQLite's
//! auto-checkpoint runs on the commit that takes the WAL past 1000 pages,
//! inside that request (a logged call writes 9 pages, so one call in ~110
//! paid ~3 ms: the gateway's p99). Their WAL hook instead wakes a
//! background thread at the same threshold, which checkpoints with
//! `PASSIVE` (never blocking a reader or a writer) until the log is copied
//! and the next writer restarts it from the start. Checkpointing on a
//! timer instead let the log grow to tens of MB under steady load (a
//! writer always came in before a copy finished), which cost every read.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rusqlite::hooks::Wal;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

use super::bindings::spin::sqlite::sqlite::{self as wit, Error, QueryResult, RowResult, Value};

/// How long a connection waits for another writer before giving up.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections a database may have open for guests at once. More guest
/// opens wait (up to [`POOL_WAIT`]) for one to come back.
const POOL_MAX_OPEN: usize = 64;

/// Connections kept open while idle; the rest are closed when returned.
const POOL_MAX_IDLE: usize = 16;

/// How long a guest `open` waits for a free connection before failing.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// Prepared statements each connection keeps (more than the app has).
const STATEMENT_CACHE_CAPACITY: usize = 512;

/// A commit that leaves the WAL at this many pages or more wakes the
/// background checkpoint (SQLite's own auto-checkpoint threshold).
const CHECKPOINT_AT_PAGES: c_int = 1000;

/// The background checkpoint also runs this often without being woken (a
/// quiet database's last commits), and notices a dropped database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// A WAL longer than this (pages) after a passive checkpoint means readers
/// kept SQLite from restarting the log; only then does the checkpoint
/// force a restart with `TRUNCATE`, which holds writers while it waits for
/// readers (up to [`CHECKPOINT_BUSY_TIMEOUT`]).
const CHECKPOINT_TRUNCATE_PAGES: i64 = 16_384;

/// How long a forced `TRUNCATE` checkpoint waits for readers and writers
/// before it gives up until next time (it must never stall requests for
/// long).
const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_millis(100);

/// The WAL is truncated back to this size after a checkpoint (bytes).
const JOURNAL_SIZE_LIMIT: i64 = 16 << 20;

/// A backend that can open connections to one database.
pub trait SqliteBackend: Send + Sync {
    /// A connection, waiting (blocking) for one if need be.
    fn connect(&self) -> Result<Box<dyn SqliteConnection>, Error>;
    /// A connection at once if one is ready without blocking (an idle
    /// pooled one), else `None`.
    fn connect_now(&self) -> Option<Box<dyn SqliteConnection>> {
        None
    }
}

/// Whether a statement may wait for another connection's lock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wait {
    /// Up to the busy timeout: only on a thread that may block.
    Allowed,
    /// Not at all: a statement that would wait fails with nothing changed
    /// (`Ok(None)`), so it can run again with [`Wait::Allowed`] elsewhere.
    Never,
}

/// One open connection.
pub trait SqliteConnection: Send {
    /// Runs one statement; `Ok(None)` only with [`Wait::Never`], when the
    /// statement would have had to wait for a lock.
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        wait: Wait,
    ) -> Result<Option<QueryResult>, Error>;
    fn changes(&self) -> u64;
    fn last_insert_rowid(&self) -> i64;
}

/// A SQLite database file (Spin's `type = "spin"`), with its connection pool
/// and its keeper connection.
pub struct FileDatabase {
    path: PathBuf,
    pool: Arc<Pool>,
    /// Held for the life of the database so the file always has an open
    /// connection; also the one the background checkpoint runs on.
    _keeper: Arc<Mutex<rusqlite::Connection>>,
}

impl FileDatabase {
    /// Prepares the file (folder, WAL) at startup, so a bad path fails there,
    /// and starts its background checkpoint.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let keeper = open_file(path)?;
        keeper
            .busy_timeout(CHECKPOINT_BUSY_TIMEOUT)
            .with_context(|| format!("configuring {}", path.display()))?;
        let keeper = Arc::new(Mutex::new(keeper));
        let checkpoint_wanted = Arc::new(CheckpointSignal::default());
        spawn_checkpointer(path, Arc::downgrade(&keeper), checkpoint_wanted.clone())?;
        Ok(Self {
            path: path.to_owned(),
            pool: Arc::new(Pool {
                path: path.to_owned(),
                state: Mutex::new(PoolState::default()),
                returned: Condvar::new(),
                checkpoint_wanted,
            }),
            _keeper: keeper,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection to the file, outside the pool (the host's own
    /// migrations and bootstrap use it).
    pub fn open_connection(&self) -> rusqlite::Result<rusqlite::Connection> {
        connect_file(&self.path)
    }

    /// Connections the pool holds: (open for guests, idle).
    #[cfg(test)]
    fn pool_counts(&self) -> (usize, usize) {
        let state = self.pool.state.lock().unwrap();
        (state.lent, state.idle.len())
    }
}

/// Wakes the background checkpoint: set by a guest connection's WAL hook.
#[derive(Default)]
struct CheckpointSignal {
    wanted: Mutex<bool>,
    wake: Condvar,
}

impl CheckpointSignal {
    fn request(&self) {
        if let Ok(mut wanted) = self.wanted.lock() {
            *wanted = true;
            self.wake.notify_one();
        }
    }

    /// Waits until requested or `timeout` passed; whether it was requested
    /// (and takes the request).
    fn wait(&self, timeout: Duration) -> bool {
        let Ok(mut wanted) = self.wanted.lock() else {
            return false;
        };
        if !*wanted {
            match self.wake.wait_timeout(wanted, timeout) {
                Ok((woken, _)) => wanted = woken,
                Err(_) => return false,
            }
        }
        std::mem::take(&mut *wanted)
    }
}

/// Checkpoints the WAL on the keeper connection whenever a guest commit
/// asks (and every [`CHECKPOINT_EVERY`]), until the database is dropped.
/// `PASSIVE` copies what it can without waiting for anyone; the next
/// writer then restarts the log from its start (and `journal_size_limit`
/// trims the file). Commits that land while it copies ask again, so it
/// catches up in small steps until the log restarts. A busy database is
/// left alone until next time.
fn spawn_checkpointer(
    path: &Path,
    keeper: Weak<Mutex<rusqlite::Connection>>,
    wanted: Arc<CheckpointSignal>,
) -> anyhow::Result<()> {
    let name = format!("sqlite checkpoint {}", path.display());
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            loop {
                wanted.wait(CHECKPOINT_EVERY);
                let Some(keeper) = keeper.upgrade() else {
                    return;
                };
                let Ok(conn) = keeper.lock() else {
                    return;
                };
                if let Err(e) = checkpoint(&conn)
                    && !is_busy(&e)
                {
                    eprintln!("{name}: {e}");
                }
            }
        })
        .context("starting the sqlite checkpoint thread")?;
    Ok(())
}

/// One background checkpoint: `PASSIVE`, then `TRUNCATE` only when the log
/// is over [`CHECKPOINT_TRUNCATE_PAGES`] (readers kept it from restarting).
fn checkpoint(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    // (busy, pages in the log, pages copied to the database)
    let log_pages: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?;
    if log_pages > CHECKPOINT_TRUNCATE_PAGES {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(())
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
    // Replicas starting at once on one file race for this switch, and
    // SQLite answers it SQLITE_BUSY at once, without the busy handler.
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            switched => {
                switched.with_context(|| format!("switching {} to WAL", path.display()))?;
                return Ok(conn);
            }
        }
    }
}

/// A connection with the settings every user of a file shares.
pub(super) fn connect_file(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL + NORMAL: a committed transaction survives a killed process;
    // only an OS crash or power loss can lose the last commits.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A checkpoint that resets the WAL also shrinks it back to this size.
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    // Pooled connections serve every component, so they see all of the
    // app's statements; rusqlite's default of 16 cached ones would thrash.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(conn)
}

/// A connection for guests. Its WAL hook replaces SQLite's
/// auto-checkpoint: a commit that leaves the log at
/// [`CHECKPOINT_AT_PAGES`] or more wakes the background checkpoint instead
/// of checkpointing inside the request (see the module's doc).
fn connect_guest(
    path: &Path,
    checkpoint_wanted: Arc<CheckpointSignal>,
) -> rusqlite::Result<rusqlite::Connection> {
    let mut conn = connect_file(path)?;
    conn.wal_hook(Some(move |_: &mut Wal, pages: c_int| {
        if pages >= CHECKPOINT_AT_PAGES {
            checkpoint_wanted.request();
        }
        Ok(())
    }))?;
    Ok(conn)
}

/// The pool of one database's guest connections.
struct Pool {
    path: PathBuf,
    state: Mutex<PoolState>,
    /// Signalled when a connection comes back or is closed.
    returned: Condvar,
    /// The background checkpoint's wake-up, for the guests' WAL hooks.
    checkpoint_wanted: Arc<CheckpointSignal>,
}

#[derive(Default)]
struct PoolState {
    /// Open connections no guest holds, most recently returned last.
    idle: Vec<rusqlite::Connection>,
    /// Connections held by guests right now.
    lent: usize,
}

impl Pool {
    /// An idle connection, if there is one; never opens or waits.
    fn take_idle(self: &Arc<Self>) -> Option<PooledConnection> {
        let mut state = self.state.lock().ok()?;
        let conn = state.idle.pop()?;
        state.lent += 1;
        Some(PooledConnection::new(conn, self.clone()))
    }

    /// A connection for one guest `open`: an idle one, else a new one while
    /// fewer than [`POOL_MAX_OPEN`] are lent, else wait for one to come back.
    fn take(self: &Arc<Self>) -> Result<PooledConnection, Error> {
        let deadline = Instant::now() + POOL_WAIT;
        let mut state = self.lock()?;
        loop {
            if let Some(conn) = state.idle.pop() {
                state.lent += 1;
                return Ok(PooledConnection::new(conn, self.clone()));
            }
            if state.lent < POOL_MAX_OPEN {
                state.lent += 1;
                drop(state);
                return match connect_guest(&self.path, self.checkpoint_wanted.clone()) {
                    Ok(conn) => Ok(PooledConnection::new(conn, self.clone())),
                    Err(e) => {
                        self.forget();
                        Err(io_error(e))
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Io(format!(
                    "all {POOL_MAX_OPEN} connections to the database are in use; \
                     none came back within {POOL_WAIT:?}"
                )));
            }
            state = self
                .returned
                .wait_timeout(state, left)
                .map_err(|_| poisoned())?
                .0;
        }
    }

    /// Takes back a connection a guest no longer holds.
    fn give_back(&self, conn: rusqlite::Connection) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.lent = state.lent.saturating_sub(1);
        if state.idle.len() < POOL_MAX_IDLE {
            state.idle.push(conn);
        }
        drop(state);
        self.returned.notify_one();
    }

    /// A lent connection was closed instead of returned.
    fn forget(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.lent = state.lent.saturating_sub(1);
        }
        self.returned.notify_one();
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, PoolState>, Error> {
        self.state.lock().map_err(|_| poisoned())
    }
}

fn poisoned() -> Error {
    Error::Io("sqlite connection pool poisoned".into())
}

impl SqliteBackend for FileDatabase {
    fn connect(&self) -> Result<Box<dyn SqliteConnection>, Error> {
        Ok(Box::new(self.pool.take()?))
    }

    fn connect_now(&self) -> Option<Box<dyn SqliteConnection>> {
        Some(Box::new(self.pool.take_idle()?))
    }
}

/// A pool connection while one guest connection holds it. Dropping it (the
/// guest's close, or its instance going away) returns it to the pool, or
/// closes it if it may carry state into the next guest's use.
struct PooledConnection {
    conn: Option<rusqlite::Connection>,
    pool: Arc<Pool>,
    /// Set when a statement may have left connection state behind.
    discard: bool,
    /// Whether this guest ran a statement yet: `changes` and
    /// `last-insert-rowid` must not show the previous holder's.
    used: bool,
}

impl PooledConnection {
    fn new(conn: rusqlite::Connection, pool: Arc<Pool>) -> Self {
        Self {
            conn: Some(conn),
            pool,
            discard: false,
            used: false,
        }
    }

    fn conn(&self) -> &rusqlite::Connection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // A guest that trapped (or just returned) inside a transaction must
        // not hand it to the next one. ROLLBACK in WAL mode discards pages in
        // memory; it does no I/O worth moving off this thread.
        if !self.discard && !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            self.discard = true;
        }
        if self.discard || !conn.is_autocommit() {
            drop(conn);
            self.pool.forget();
        } else {
            self.pool.give_back(conn);
        }
    }
}

impl SqliteConnection for PooledConnection {
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        wait: Wait,
    ) -> Result<Option<QueryResult>, Error> {
        self.used = true;
        if changes_connection_state(sql) {
            self.discard = true;
        }
        let conn = self.conn();
        let result = match wait {
            Wait::Allowed => run_query(conn, sql, params),
            Wait::Never => {
                // Without a busy handler SQLite answers SQLITE_BUSY at once
                // instead of sleeping; the handler goes back right after.
                conn.busy_timeout(Duration::ZERO).map_err(io_error)?;
                let result = run_query(conn, sql, params);
                conn.busy_timeout(BUSY_TIMEOUT).map_err(io_error)?;
                result
            }
        };
        match result {
            Ok(rows) => Ok(Some(rows)),
            // SQLITE_BUSY undoes the statement (its implicit transaction, or
            // within an explicit one, the statement), so it can run again.
            Err((e, _)) if wait == Wait::Never && is_busy(&e) => Ok(None),
            Err((e, ran)) => {
                if ran && !leaves_connection_usable(&e) {
                    self.discard = true;
                }
                Err(io_error(e))
            }
        }
    }

    fn changes(&self) -> u64 {
        if self.used { self.conn().changes() } else { 0 }
    }

    fn last_insert_rowid(&self) -> i64 {
        if self.used {
            self.conn().last_insert_rowid()
        } else {
            0
        }
    }
}

/// Whether SQLite refused to wait for a lock another connection holds.
pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Runs one statement; on failure, also says whether it got to run (a
/// statement SQLite refused to prepare never touched the connection).
fn run_query(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<QueryResult, (rusqlite::Error, bool)> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| (e, false))?;
    let ran = |e| (e, true);
    let columns: Vec<String> = stmt.column_names().map(String::from).collect();
    let params = rusqlite::params_from_iter(params.iter().map(SqlParam));
    let mut rows = stmt.query(params).map_err(ran)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(ran)? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(from_sql_value))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(ran)?;
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

/// Whether `sql` may change the connection itself rather than the database:
/// PRAGMA (settings), ATTACH/DETACH (other files), TEMP tables, views,
/// triggers and indexes (they live in the connection's temp schema). A
/// conservative word check: a false positive only costs a new connection.
fn changes_connection_state(sql: &str) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| {
            ["pragma", "attach", "detach", "temp", "temporary"]
                .iter()
                .any(|w| word.eq_ignore_ascii_case(w))
        })
}

/// Errors of a prepared statement after which the connection is known to be
/// as it was: the statement was refused before it ran (wrong parameter
/// count or name) or a constraint stopped it. Any other failure (busy, I/O,
/// corruption, interruption) closes the connection.
fn leaves_connection_usable(e: &rusqlite::Error) -> bool {
    use rusqlite::Error as E;
    match e {
        E::SqlInputError { .. }
        | E::InvalidParameterCount(..)
        | E::MultipleStatement
        | E::InvalidParameterName(_) => true,
        E::SqliteFailure(err, _) => err.code == rusqlite::ErrorCode::ConstraintViolation,
        _ => false,
    }
}

fn io_error(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => Error::DatabaseFull,
        _ => Error::Io(e.to_string()),
    }
}

/// A guest's parameter, bound by reference (a retried statement binds the
/// same values again, and a log row's bodies are not copied).
struct SqlParam<'a>(&'a Value);

impl rusqlite::ToSql for SqlParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as V};
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Integer(i) => V::Integer(*i),
            Value::Real(r) => V::Real(*r),
            Value::Text(t) => V::Text(t.as_bytes()),
            Value::Blob(b) => V::Blob(b),
            Value::Null => V::Null,
        }))
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

// Every statement first runs right here, on the request's own thread, with
// `Wait::Never`: a read, or a write that finds the write lock free, takes
// microseconds, less than handing it to another thread and back (that
// hand-off was about half of the host's CPU per gateway call). Only work
// that would block (opening a file, waiting for another writer's lock)
// goes to tokio's blocking pool.

/// Runs blocking SQLite work on tokio's blocking pool.
async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io(format!("sqlite worker failed: {e}")))?
}

async fn connect(backend: Arc<dyn SqliteBackend>) -> Result<Box<dyn SqliteConnection>, Error> {
    if let Some(conn) = backend.connect_now() {
        return Ok(conn);
    }
    blocking(move || backend.connect()).await
}

async fn query(
    conn: Arc<Mutex<Box<dyn SqliteConnection>>>,
    sql: String,
    params: Vec<Value>,
) -> Result<QueryResult, Error> {
    // A connection another request of the same instance is using right now
    // is waited for on the blocking pool, never here.
    if let Ok(mut now) = conn.try_lock()
        && let Some(rows) = now.query(&sql, &params, Wait::Never)?
    {
        return Ok(rows);
    }
    blocking(move || {
        let mut conn = conn
            .lock()
            .map_err(|_| Error::Io("connection poisoned".into()))?;
        let rows = conn.query(&sql, &params, Wait::Allowed)?;
        Ok(rows.expect("a statement that may wait has an answer"))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, FileDatabase) {
        let dir = tempfile::tempdir().unwrap();
        let db = FileDatabase::create(&dir.path().join("db.sqlite")).unwrap();
        let mut conn = db.connect().unwrap();
        conn.query("CREATE TABLE t (x INTEGER PRIMARY KEY)", &[], Wait::Allowed)
            .unwrap();
        drop(conn);
        (dir, db)
    }

    fn count(db: &FileDatabase) -> i64 {
        let mut conn = db.connect().unwrap();
        let rows = conn.query("SELECT count(*) FROM t", &[], Wait::Allowed);
        match rows.unwrap().unwrap().rows[0].values[0] {
            Value::Integer(n) => n,
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_returned_connection_is_reused() {
        let (_dir, db) = database();
        assert_eq!(db.pool_counts(), (0, 1));
        let a = db.connect().unwrap();
        assert_eq!(db.pool_counts(), (1, 0));
        let b = db.connect().unwrap();
        assert_eq!(db.pool_counts(), (2, 0));
        drop((a, b));
        assert_eq!(db.pool_counts(), (0, 2));
    }

    #[test]
    fn an_open_transaction_is_rolled_back_on_return() {
        let (_dir, db) = database();
        let mut conn = db.connect().unwrap();
        conn.query("BEGIN IMMEDIATE", &[], Wait::Allowed).unwrap();
        conn.query("INSERT INTO t (x) VALUES (1)", &[], Wait::Allowed)
            .unwrap();
        drop(conn);
        assert_eq!(db.pool_counts(), (0, 1));
        assert_eq!(count(&db), 0);
        // And the write lock went with it: another writer gets in at once.
        let other = db.open_connection().unwrap();
        other.busy_timeout(Duration::ZERO).unwrap();
        other.execute("INSERT INTO t (x) VALUES (2)", []).unwrap();
        assert_eq!(count(&db), 1);
        drop(other.close());
    }

    /// What an instance that traps mid-transaction leaves: its store, and
    /// with it the guest's connection table, is dropped without a close.
    #[test]
    fn an_instance_dropped_inside_a_transaction_leaves_none_open() {
        let (_dir, db) = database();
        let db = Arc::new(db);
        let databases: Arc<Databases> = Arc::new(BTreeMap::from([(
            "default".to_owned(),
            db.clone() as Arc<dyn SqliteBackend>,
        )]));
        let allowed = Arc::new(BTreeSet::from(["default".to_owned()]));
        let mut state = SqliteState::new(allowed, databases);
        let conn = state.push(db.connect().unwrap()).unwrap();
        {
            let conn = state.get(&conn).unwrap();
            let mut conn = conn.lock().unwrap();
            conn.query("BEGIN IMMEDIATE", &[], Wait::Allowed).unwrap();
            conn.query("INSERT INTO t (x) VALUES (1)", &[], Wait::Allowed)
                .unwrap();
        }
        drop(state);
        assert_eq!(db.pool_counts(), (0, 1));
        assert_eq!(count(&db), 0);
        let mut next = db.connect().unwrap();
        next.query("BEGIN IMMEDIATE", &[], Wait::Allowed).unwrap();
        next.query("COMMIT", &[], Wait::Allowed).unwrap();
    }

    #[test]
    fn connection_state_changes_close_the_connection() {
        for sql in [
            "PRAGMA foreign_keys = OFF",
            "  pragma cache_size = 10",
            "ATTACH DATABASE ':memory:' AS other",
            "CREATE TEMP TABLE scratch (y)",
            "create temporary view v as select 1",
        ] {
            let (_dir, db) = database();
            let mut conn = db.connect().unwrap();
            conn.query(sql, &[], Wait::Allowed).unwrap();
            drop(conn);
            assert_eq!(db.pool_counts(), (0, 0), "{sql}");
        }
        assert!(!changes_connection_state(
            "SELECT template, temperature FROM sqlite_temp_master_x"
        ));
    }

    #[test]
    fn constraint_errors_keep_the_connection_others_close_it() {
        let (_dir, db) = database();
        let mut conn = db.connect().unwrap();
        conn.query("INSERT INTO t (x) VALUES (1)", &[], Wait::Allowed)
            .unwrap();
        assert!(
            conn.query("INSERT INTO t (x) VALUES (1)", &[], Wait::Allowed)
                .is_err()
        );
        assert!(conn.query("SELEC 1", &[], Wait::Allowed).is_err());
        drop(conn);
        assert_eq!(db.pool_counts(), (0, 1));

        let mut conn = db.connect().unwrap();
        assert!(
            conn.query("SELECT * FROM missing", &[], Wait::Allowed)
                .is_err()
        );
        drop(conn);
        // "no such table" is a prepare error: still usable.
        assert_eq!(db.pool_counts(), (0, 1));
    }

    #[test]
    fn changes_and_rowid_start_at_zero_for_each_holder() {
        let (_dir, db) = database();
        let mut conn = db.connect().unwrap();
        conn.query("INSERT INTO t (x) VALUES (7)", &[], Wait::Allowed)
            .unwrap();
        assert_eq!((conn.changes(), conn.last_insert_rowid()), (1, 7));
        drop(conn);
        let conn = db.connect().unwrap();
        assert_eq!((conn.changes(), conn.last_insert_rowid()), (0, 0));
    }

    #[test]
    fn the_wal_survives_the_last_guest_close() {
        let (dir, db) = database();
        let mut conn = db.connect().unwrap();
        conn.query("INSERT INTO t (x) VALUES (1)", &[], Wait::Allowed)
            .unwrap();
        drop(conn);
        assert!(dir.path().join("db.sqlite-wal").exists());
    }

    /// The gateway's p99: a guest commit past SQLite's auto-checkpoint
    /// threshold (1000 pages) must not copy the WAL into the database inside
    /// the request; the background checkpoint does.
    #[test]
    fn guest_commits_leave_checkpoints_to_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let keeper = open_file(&path).unwrap();
        let wanted = Arc::new(CheckpointSignal::default());
        let guest = connect_guest(&path, wanted.clone()).unwrap();
        guest
            .execute_batch("CREATE TABLE small (x); INSERT INTO small VALUES (1);")
            .unwrap();
        assert!(
            !wanted.wait(Duration::ZERO),
            "a few pages asked for a checkpoint"
        );
        guest
            .execute_batch(
                "CREATE TABLE big (b BLOB);
                 INSERT INTO big VALUES (zeroblob(8 * 1024 * 1024));",
            )
            .unwrap();
        let db_bytes = || std::fs::metadata(&path).unwrap().len();
        assert!(
            db_bytes() < 1024 * 1024,
            "the commit checkpointed: the database file holds {} bytes",
            db_bytes()
        );
        assert!(
            wanted.wait(Duration::ZERO),
            "2048 pages did not wake the checkpoint"
        );

        checkpoint(&keeper).unwrap();
        assert!(db_bytes() > 8 * 1024 * 1024, "{} bytes", db_bytes());
        let log: (i64, i64) = keeper
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(log.0, log.1, "every page of the log was copied");
    }

    #[test]
    fn a_statement_that_may_not_wait_comes_back_undone_when_busy() {
        let (_dir, db) = database();
        let writer = db.open_connection().unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();

        let mut conn = db.connect().unwrap();
        let insert = "INSERT INTO t (x) VALUES (?1)";
        let started = Instant::now();
        let answer = conn.query(insert, &[Value::Integer(1)], Wait::Never);
        assert!(matches!(answer, Ok(None)), "{answer:?}");
        assert!(started.elapsed() < Duration::from_secs(1), "it waited");
        // Reads are never held up by a writer in WAL mode.
        let read = conn.query("SELECT count(*) FROM t", &[], Wait::Never);
        assert!(matches!(read, Ok(Some(_))), "{read:?}");

        // The busy handler is back: a statement that may wait, waits for
        // the writer instead of failing.
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            writer.execute_batch("COMMIT").unwrap();
        });
        conn.query(insert, &[Value::Integer(1)], Wait::Allowed)
            .unwrap()
            .unwrap();
        release.join().unwrap();
        drop(conn);
        // A busy answer is no reason to close the connection.
        assert_eq!(db.pool_counts(), (0, 1));
        assert_eq!(count(&db), 1);
    }

    #[test]
    fn only_an_idle_connection_is_taken_without_waiting() {
        let (_dir, db) = database();
        let idle = db.connect_now().expect("the connection of `database()`");
        assert!(db.connect_now().is_none());
        drop(idle);
        assert!(db.connect_now().is_some());
    }
}
