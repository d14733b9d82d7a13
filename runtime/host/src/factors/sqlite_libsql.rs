//! `[sqlite_database.<label>] type = "libsql"`: a libSQL server (Turso, or
//! a self-hosted `sqld`) over the Hrana 3 protocol on HTTP, as Spin's
//! libSQL backend reaches it, with Spin's runtime-config keys `url` and
//! `token`.
//!
//! A guest connection is one Hrana stream: its first request opens the
//! stream, the server's baton carries it to the next, so `BEGIN ... COMMIT`
//! issued by a guest stays on one server-side connection, as in Spin. The
//! stream is closed when the guest closes its connection (off the request
//! path; the server rolls back anything left open), and a server closes
//! streams idle too long by itself.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::{Value as Json, json};

use super::bindings::spin::sqlite::sqlite::{Error, QueryResult, RowResult, Value};
use super::sqlite::{SqliteBackend, SqliteConnection, Wait};

/// The longest one pipeline request may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A libSQL database: where it is and the token that opens it.
pub struct LibsqlDatabase {
    /// `http(s)://host[:port]`, without a trailing slash.
    url: String,
    token: String,
    agent: ureq::Agent,
}

impl LibsqlDatabase {
    /// `url` is `libsql://`, `https://` or `http://` (a local sqld); a
    /// `libsql://` URL is reached over `https://`, as libSQL clients do.
    pub fn new(url: &str, token: &str) -> anyhow::Result<Self> {
        let url = http_url(url)?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            // Hrana errors come back as JSON bodies with 4xx/5xx statuses.
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(Self {
            url,
            token: token.to_owned(),
            agent,
        })
    }
}

/// The HTTP base URL of a libSQL `url`.
pub fn http_url(url: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        anyhow::anyhow!("{url:?} is not a URL (expected libsql://, https:// or http://)")
    })?;
    let scheme = match scheme {
        "libsql" | "https" => "https",
        "http" => "http",
        other => anyhow::bail!(
            "{url:?}: unsupported scheme `{other}` (expected libsql://, https:// or http://)"
        ),
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        anyhow::bail!("{url:?} has no host");
    }
    Ok(format!("{scheme}://{rest}"))
}

impl SqliteBackend for LibsqlDatabase {
    fn connect(&self) -> Result<Box<dyn SqliteConnection>, Error> {
        Ok(Box::new(self.open()))
    }

    // Opening is only local bookkeeping: the stream starts with the first
    // statement.
    fn connect_now(&self) -> Option<Box<dyn SqliteConnection>> {
        Some(Box::new(self.open()))
    }
}

impl LibsqlDatabase {
    /// The server's HTTP URL (for messages; the token is never shown).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn open(&self) -> LibsqlConnection {
        LibsqlConnection {
            agent: self.agent.clone(),
            url: self.url.clone(),
            token: self.token.clone(),
            baton: None,
            changes: 0,
            last_insert_rowid: 0,
        }
    }
}

/// One guest connection: a Hrana stream once it ran a statement.
pub struct LibsqlConnection {
    agent: ureq::Agent,
    /// Where the stream's next request goes (a server may move it).
    url: String,
    token: String,
    /// The stream's baton, once the server opened it.
    baton: Option<String>,
    changes: u64,
    last_insert_rowid: i64,
}

impl LibsqlConnection {
    /// Sends one pipeline on this stream and returns its results.
    fn pipeline(&mut self, requests: Json) -> Result<Vec<Json>, Error> {
        let body = json!({"baton": self.baton, "requests": requests});
        let reply = send(&self.agent, &self.url, &self.token, &body)?;
        self.baton = reply["baton"].as_str().map(str::to_owned);
        if let Some(base) = reply["base_url"].as_str() {
            self.url = http_url(base).map_err(|e| Error::Io(format!("libsql: {e}")))?;
        }
        match reply["results"].as_array() {
            Some(results) => Ok(results.clone()),
            None => Err(Error::Io(format!(
                "libsql: a reply without results: {reply}"
            ))),
        }
    }
}

impl Drop for LibsqlConnection {
    fn drop(&mut self) {
        let Some(baton) = self.baton.take() else {
            return;
        };
        let (agent, url, token) = (self.agent.clone(), self.url.clone(), self.token.clone());
        // Off the caller's thread (a guest's close runs on the async
        // runtime); the server also expires a stream nobody closes.
        std::thread::spawn(move || {
            let body = json!({"baton": baton, "requests": [{"type": "close"}]});
            if let Err(e) = send(&agent, &url, &token, &body) {
                eprintln!("libsql: closing a stream: {e:?}");
            }
        });
    }
}

fn send(agent: &ureq::Agent, url: &str, token: &str, body: &Json) -> Result<Json, Error> {
    let endpoint = format!("{url}/v3/pipeline");
    let mut request = agent.post(&endpoint);
    if !token.is_empty() {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    let mut response = request
        .send_json(body)
        .map_err(|e| Error::Io(format!("libsql: {endpoint}: {e}")))?;
    let status = response.status();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| Error::Io(format!("libsql: {endpoint}: reading the reply: {e}")))?;
    if !status.is_success() {
        let message = serde_json::from_str::<Json>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        return Err(Error::Io(format!(
            "libsql: {endpoint}: {status}: {message}"
        )));
    }
    serde_json::from_str(&text)
        .map_err(|e| Error::Io(format!("libsql: {endpoint}: a reply that is not JSON: {e}")))
}

impl SqliteConnection for LibsqlConnection {
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        wait: Wait,
    ) -> Result<Option<QueryResult>, Error> {
        // Every statement is a network round trip: never on the caller's
        // thread.
        if wait == Wait::Never {
            return Ok(None);
        }
        let args: Vec<Json> = params.iter().map(to_hrana).collect();
        let results = self.pipeline(json!([
            {"type": "execute", "stmt": {"sql": sql, "args": args, "want_rows": true}},
        ]))?;
        let executed = results
            .first()
            .ok_or_else(|| Error::Io("libsql: no result for the statement".into()))?;
        let result = ok_response(executed)?;
        let result = &result["result"];
        self.changes = result["affected_row_count"].as_u64().unwrap_or(0);
        if let Some(rowid) = result["last_insert_rowid"]
            .as_str()
            .and_then(|s| s.parse().ok())
        {
            self.last_insert_rowid = rowid;
        }
        let columns = result["cols"]
            .as_array()
            .map(|cols| {
                cols.iter()
                    .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let rows = result["rows"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|row| {
                        let values = row
                            .as_array()
                            .map(|cells| cells.iter().map(from_hrana).collect())
                            .unwrap_or_else(|| Ok(Vec::new()))?;
                        Ok(RowResult { values })
                    })
                    .collect::<Result<Vec<_>, Error>>()
            })
            .unwrap_or_else(|| Ok(Vec::new()))?;
        Ok(Some(QueryResult { columns, rows }))
    }

    fn changes(&self) -> u64 {
        self.changes
    }

    fn last_insert_rowid(&self) -> i64 {
        self.last_insert_rowid
    }
}

/// The `response` of an `ok` stream result, or the statement's error.
fn ok_response(result: &Json) -> Result<&Json, Error> {
    match result["type"].as_str() {
        Some("ok") => Ok(&result["response"]),
        Some("error") => Err(Error::Io(
            result["error"]["message"]
                .as_str()
                .unwrap_or("libsql: an error without a message")
                .to_owned(),
        )),
        _ => Err(Error::Io(format!("libsql: an unexpected result: {result}"))),
    }
}

/// A parameter in Hrana's JSON encoding (integers as strings: JSON numbers
/// cannot carry every i64).
fn to_hrana(value: &Value) -> Json {
    match value {
        Value::Null => json!({"type": "null"}),
        Value::Integer(i) => json!({"type": "integer", "value": i.to_string()}),
        Value::Real(r) => json!({"type": "float", "value": r}),
        Value::Text(t) => json!({"type": "text", "value": t}),
        Value::Blob(b) => json!({"type": "blob", "base64": STANDARD.encode(b)}),
    }
}

fn from_hrana(cell: &Json) -> Result<Value, Error> {
    let bad = || Error::Io(format!("libsql: a value it cannot read: {cell}"));
    Ok(match cell["type"].as_str() {
        Some("null") => Value::Null,
        Some("integer") => Value::Integer(
            match &cell["value"] {
                Json::String(s) => s.parse().ok(),
                n => n.as_i64(),
            }
            .ok_or_else(bad)?,
        ),
        Some("float") => Value::Real(cell["value"].as_f64().ok_or_else(bad)?),
        Some("text") => Value::Text(cell["value"].as_str().ok_or_else(bad)?.to_owned()),
        Some("blob") => {
            let encoded = cell["base64"].as_str().ok_or_else(bad)?;
            // Servers send it with or without padding.
            Value::Blob(
                STANDARD_NO_PAD
                    .decode(encoded.trim_end_matches('='))
                    .map_err(|_| bad())?,
            )
        }
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_as_libsql_clients_read_them() {
        assert_eq!(
            http_url("libsql://db-org.turso.io").unwrap(),
            "https://db-org.turso.io"
        );
        assert_eq!(
            http_url("https://db.example/").unwrap(),
            "https://db.example"
        );
        assert_eq!(
            http_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(http_url("ws://db.example").is_err());
        assert!(http_url("db.example").is_err());
        assert!(http_url("https://").is_err());
    }

    /// The value encodings of the Hrana spec's examples.
    #[test]
    fn values_round_trip_in_hranas_json() {
        for v in [
            Value::Null,
            Value::Integer(i64::MIN),
            Value::Integer(42),
            Value::Real(0.5),
            Value::Text("héllo".into()),
            Value::Blob(vec![0, 1, 2, 255]),
        ] {
            let back = from_hrana(&to_hrana(&v)).unwrap();
            assert_eq!(format!("{back:?}"), format!("{v:?}"));
        }
        assert_eq!(
            to_hrana(&Value::Integer(7)),
            json!({"type": "integer", "value": "7"})
        );
        let unpadded = from_hrana(&json!({"type": "blob", "base64": "AAECAw"})).unwrap();
        assert!(matches!(unpadded, Value::Blob(b) if b == [0, 1, 2, 3]));
        assert!(from_hrana(&json!({"type": "integer", "value": "x"})).is_err());
    }
}
