//! A thin layer over `spin_sdk::sqlite`: typed column access, statements
//! that collect their rows, and transactions.

use prompthelm_component_kit::ApiError;
use prompthelm_domain::pagination::{Page, PageRequest};
use spin_sdk::sqlite::{Connection, Value};

/// One connection to the `default` database, for one request. It is
/// opened by [`Db::open`], which lives in [`crate::schema`] because opening
/// brings the schema up to date: this module stays below the schema runner.
pub struct Db(pub(crate) Connection);

impl Db {
    /// Runs `sql` and collects its rows.
    pub async fn rows(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<Row>, ApiError> {
        let rows = self.0.execute(sql, params).await?.collect().await?;
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
        self.0.execute(sql, params).await?.result().await?;
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
        Ok(self.0.changes().await)
    }

    /// Runs `work` in a transaction that holds the write lock from its start
    /// (`BEGIN IMMEDIATE`), so concurrent writers queue up on the busy
    /// timeout instead of failing to upgrade a read lock halfway. Commits
    /// when `work` succeeds, rolls back when it fails.
    pub async fn transaction<T>(
        &self,
        work: impl AsyncFnOnce(&Db) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.run("BEGIN IMMEDIATE", []).await?;
        match work(self).await {
            Ok(value) => {
                self.run("COMMIT", []).await?;
                Ok(value)
            }
            Err(e) => {
                // The connection closes at the end of the request, which
                // rolls back too; a failed ROLLBACK is still worth a log line.
                if let Err(rollback) = self.run("ROLLBACK", []).await {
                    eprintln!(
                        "rollback after `{}` failed: {}",
                        e.message, rollback.message
                    );
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
