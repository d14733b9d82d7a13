//! A thin layer over `spin_sdk::sqlite`: typed column access, statements
//! that collect their rows, and transactions.

use std::cell::{Cell, RefCell};

use prompthelm_component_kit::ApiError;
use prompthelm_domain::pagination::{Page, PageRequest};
use spin_sdk::sqlite::{Connection, Value};

/// Connections this instance keeps open between its requests.
///
/// Spin 4 reuses an instance for up to 128 requests, and its SQLite host
/// opens a new connection per guest `open`; the close of the file's last
/// connection checkpoints the WAL (fsyncs) and deletes it, so under `spin
/// up` every request paid an open, a checkpoint and the fsyncs (observed:
/// ~5 `openat` and ~6 `fsync` per gateway call). One kept connection makes
/// the next request's open free. One is enough for requests one after
/// another, and few enough that live instances cannot hold a host's whole
/// connection pool.
const MAX_IDLE_CONNECTIONS: usize = 1;

thread_local! {
    static IDLE: RefCell<Vec<Connection>> = const { RefCell::new(Vec::new()) };
}

/// One connection to the `default` database, for one request. It is
/// opened by [`Db::open`], which lives in [`crate::schema`] because opening
/// brings the schema up to date: this module stays below the schema runner.
/// Dropped, it goes back to the instance's idle list, unless a transaction
/// may still be open on it (a request cut off mid-transaction): that one is
/// closed, which rolls the transaction back.
pub struct Db {
    conn: Option<Connection>,
    in_transaction: Cell<bool>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if self.in_transaction.get() {
            return;
        }
        if let Some(conn) = self.conn.take() {
            IDLE.with(|idle| {
                let mut idle = idle.borrow_mut();
                if idle.len() < MAX_IDLE_CONNECTIONS {
                    idle.push(conn);
                }
            });
        }
    }
}

impl Db {
    /// This instance's idle connection to `default`, or a new one.
    pub(crate) async fn connect() -> Result<Db, ApiError> {
        let conn = match IDLE.with(|idle| idle.borrow_mut().pop()) {
            Some(conn) => conn,
            None => Connection::open_default().await?,
        };
        Ok(Db {
            conn: Some(conn),
            in_transaction: Cell::new(false),
        })
    }

    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("present until dropped")
    }

    /// Runs `sql` and collects its rows.
    pub async fn rows(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<Row>, ApiError> {
        let rows = self.conn().execute(sql, params).await?.collect().await?;
        Ok(rows.into_iter().map(|r| Row(r.values)).collect())
    }

    /// Runs `sql` and returns its first row, if any.
    pub async fn row(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<Option<Row>, ApiError> {
        Ok(self.rows(sql, params).await?.into_iter().next())
    }

    /// Runs a list query for one page: `sql` must select the row's position
    /// (`seq`) as column 0, order by it and end with `LIMIT ?` (bound here to
    /// [`PageRequest::fetch_limit`]); `item` maps each row.
    pub async fn page<T>(
        &self,
        sql: &str,
        mut params: Vec<Value>,
        page: &PageRequest,
        item: impl Fn(&Row) -> Result<T, ApiError>,
    ) -> Result<Page<T>, ApiError> {
        params.push(Value::Integer(page.fetch_limit()));
        let rows = self.rows(sql, params).await?;
        let items = rows
            .iter()
            .map(|row| Ok((row.int(0)?, item(row)?)))
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(Page::from_rows(page, items))
    }

    /// Runs a statement that returns no rows.
    pub async fn run(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<(), ApiError> {
        self.conn().execute(sql, params).await?.result().await?;
        Ok(())
    }

    /// Runs a statement that returns no rows; answers how many rows it
    /// changed (SQLite's `changes()`).
    pub async fn run_counting_changes(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<u64, ApiError> {
        self.run(sql, params).await?;
        Ok(self.conn().changes().await)
    }

    /// Runs `work` in a transaction that holds the write lock from its start
    /// (`BEGIN IMMEDIATE`), so concurrent writers queue up on the busy
    /// timeout instead of failing to upgrade a read lock halfway. Commits
    /// when `work` succeeds, rolls back when it fails.
    pub async fn transaction<T>(
        &self,
        work: impl AsyncFnOnce(&Db) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        // Set before BEGIN: if this future is dropped anywhere from here to
        // the end, the connection is closed rather than kept.
        self.in_transaction.set(true);
        self.run("BEGIN IMMEDIATE", []).await?;
        match work(self).await {
            Ok(value) => {
                self.run("COMMIT", []).await?;
                self.in_transaction.set(false);
                Ok(value)
            }
            Err(e) => {
                // The connection closes at the end of the request, which
                // rolls back too; a failed ROLLBACK is still worth a log line.
                match self.run("ROLLBACK", []).await {
                    Ok(()) => self.in_transaction.set(false),
                    Err(rollback) => eprintln!(
                        "rollback after `{}` failed: {}",
                        e.message, rollback.message
                    ),
                }
                Err(e)
            }
        }
    }
}

/// One result row, with typed access by column index. A column of an
/// unexpected type means the query and the code disagree: a 500.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn value(&self, i: usize) -> Result<&Value, ApiError> {
        self.0
            .get(i)
            .ok_or_else(|| ApiError::internal(format!("query returned no column {i}")))
    }

    /// Names the column's type, never its value (a row can hold secrets).
    fn mismatch(&self, i: usize, wanted: &str) -> ApiError {
        let found = match self.0.get(i) {
            None => "missing",
            Some(Value::Null) => "null",
            Some(Value::Integer(_)) => "an integer",
            Some(Value::Real(_)) => "a real",
            Some(Value::Text(_)) => "text",
            Some(Value::Blob(_)) => "a blob",
        };
        ApiError::internal(format!("column {i} is {found}, expected {wanted}"))
    }

    pub fn text(&self, i: usize) -> Result<String, ApiError> {
        match self.value(i)? {
            Value::Text(s) => Ok(s.clone()),
            _ => Err(self.mismatch(i, "text")),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, ApiError> {
        match self.value(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            _ => Err(self.mismatch(i, "text or null")),
        }
    }

    pub fn int(&self, i: usize) -> Result<i64, ApiError> {
        match self.value(i)? {
            Value::Integer(n) => Ok(*n),
            _ => Err(self.mismatch(i, "integer")),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, ApiError> {
        match self.value(i)? {
            Value::Null => Ok(None),
            Value::Integer(n) => Ok(Some(*n)),
            _ => Err(self.mismatch(i, "integer or null")),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool, ApiError> {
        Ok(self.int(i)? != 0)
    }

    pub fn opt_real(&self, i: usize) -> Result<Option<f64>, ApiError> {
        match self.value(i)? {
            Value::Null => Ok(None),
            Value::Real(f) => Ok(Some(*f)),
            // SQLite stores a REAL that is a whole number as written.
            Value::Integer(n) => Ok(Some(*n as f64)),
            _ => Err(self.mismatch(i, "real or null")),
        }
    }

    /// A column holding JSON text, parsed as `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, i: usize) -> Result<T, ApiError> {
        serde_json::from_str(&self.text(i)?)
            .map_err(|e| ApiError::internal(format!("column {i} holds invalid JSON: {e}")))
    }
}

/// A parameter from an optional value: `NULL` when absent.
pub fn opt<T: Into<Value>>(value: Option<T>) -> Value {
    value.map_or(Value::Null, Into::into)
}

/// A value as JSON text, for a column that stores JSON.
pub fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value)
        .map_err(|e| ApiError::internal(format!("value does not serialize as JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_access_checks_types() {
        let row = Row(vec![
            Value::Text("a".into()),
            Value::Null,
            Value::Integer(3),
            Value::Real(0.5),
            Value::Text("[1,2]".into()),
        ]);
        assert_eq!(row.text(0).unwrap(), "a");
        assert_eq!(row.opt_text(1).unwrap(), None);
        assert_eq!(row.int(2).unwrap(), 3);
        assert!(row.bool(2).unwrap());
        assert_eq!(row.opt_real(3).unwrap(), Some(0.5));
        assert_eq!(row.opt_real(2).unwrap(), Some(3.0));
        assert_eq!(row.json::<Vec<i32>>(4).unwrap(), [1, 2]);
        assert_eq!(row.text(2).unwrap_err().status.as_u16(), 500);
        assert_eq!(
            row.int(0).unwrap_err().message,
            "column 0 is text, expected integer"
        );
        assert!(row.int(9).unwrap_err().message.contains("no column 9"));
        assert!(row.json::<Vec<i32>>(0).is_err());
        assert_eq!(opt::<i64>(None), Value::Null);
        assert_eq!(opt(Some(2_i64)), Value::Integer(2));
    }
}
