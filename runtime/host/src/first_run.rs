//! A fresh checkout's way in, without the runtime knowing the app's schema.
//!
//! The app already accepts an admin token of the operator's choosing, the
//! `bootstrap_token` variable. When `up` starts with the app's migrations
//! applied and that variable declared but empty, the runtime sets it to a
//! random token of its own (never printed, never stored), serves the app
//! privately on a loopback port, and asks it over HTTP like any client
//! whether an API token exists (`GET /api/v1/tokens?limit=1`). If none
//! does, it mints the first admin token through the app (`POST
//! /api/v1/tokens`, so the app writes the hash and the audit entry as it
//! always does) and `up` prints the plaintext once. Then that app is
//! dropped and the one that serves is loaded without the lent token.
//! Under `spin up`, which has no such step, the operator sets
//! `bootstrap_token` instead.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use prompthelm_domain::auth::format_token;
use prompthelm_manifest::variables::Variables;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::factors::sqlite::FileDatabase;
use crate::os::random_bytes;
use crate::server::Server;

/// The app's variable holding an operator-chosen admin token.
pub const BOOTSTRAP_TOKEN_VARIABLE: &str = "bootstrap_token";

/// What the first admin token is called in the app's token list.
const FIRST_TOKEN_NAME: &str = "first admin (created by prompthelm up)";

/// The token this process lends the app as its `bootstrap_token`, when
/// the operator set none.
pub struct FirstRun {
    bootstrap_token: String,
    /// The private app's `default` database: the serving app is loaded
    /// once it is gone, so no connection of the first run (with its cache
    /// of what it wrote) outlives it.
    database: Option<Weak<FileDatabase>>,
}

/// How long [`FirstRun::run`] waits for the private app to let go of its
/// database (its instances serve one request each, so it is at once).
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// How long the app may take to answer both of the first run's calls.
const MINT_WAIT: Duration = Duration::from_secs(60);

impl FirstRun {
    /// A first run for an app that declares `bootstrap_token` and was given
    /// no value for it; `None` otherwise (nothing to do).
    pub fn plan(variables: &Variables) -> Option<FirstRun> {
        if !variables.is_declared(BOOTSTRAP_TOKEN_VARIABLE)
            || variables
                .get(BOOTSTRAP_TOKEN_VARIABLE)
                .is_some_and(|t| !t.is_empty())
        {
            return None;
        }
        Some(FirstRun {
            bootstrap_token: format_token(random_bytes()),
            database: None,
        })
    }

    /// The private app's `default` database, waited for by [`FirstRun::run`].
    pub fn watch(&mut self, database: Weak<FileDatabase>) {
        self.database = Some(database);
    }

    /// The `--variable` override that hands the token to the app.
    pub fn variable(&self) -> (String, String) {
        (
            BOOTSTRAP_TOKEN_VARIABLE.to_owned(),
            self.bootstrap_token.clone(),
        )
    }

    /// Serves the app (loaded with [`FirstRun::variable`]) privately on a
    /// loopback port just long enough to make sure it has an API token;
    /// answers the plaintext of the one it minted, if it had none. A
    /// failure is a warning: `up` goes on, and `bootstrap_token` is the way
    /// in. The server is dropped on return, and the lent token with it.
    pub async fn run(&self, server: Server) -> Option<String> {
        let minted = async {
            let listeners =
                crate::server::bind_listeners(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), 1)?;
            let addr = listeners[0].local_addr()?;
            let (minted_tx, minted_rx) = tokio::sync::oneshot::channel::<()>();
            let stop = async {
                let _ = minted_rx.await;
            };
            let serving = Arc::new(server).serve(listeners, stop, false);
            tokio::pin!(serving);
            let minted = tokio::select! {
                served = &mut serving => {
                    served?;
                    bail!("the app stopped serving")
                }
                minted = tokio::time::timeout(MINT_WAIT, self.mint_first_admin(addr)) => {
                    minted.context("the app did not answer")
                }
            };
            // Stop the private server and wait for its event loop to end,
            // whatever the mint did.
            let _ = minted_tx.send(());
            serving.await?;
            minted?
        };
        let minted = minted.await;
        if let Some(database) = &self.database {
            let since = Instant::now();
            while database.strong_count() > 0 && since.elapsed() < RELEASE_WAIT {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        match minted {
            Ok(minted) => minted,
            Err(e) => {
                eprintln!(
                    "warning: could not make sure the app has an admin token: {e:#}; set the \
                     {BOOTSTRAP_TOKEN_VARIABLE} variable to one of your choosing to get in"
                );
                None
            }
        }
    }

    /// Asks the app serving at `addr` whether it has an API token; if not,
    /// mints the first admin token and answers its plaintext (shown once).
    async fn mint_first_admin(&self, addr: SocketAddr) -> anyhow::Result<Option<String>> {
        let (status, tokens) = self
            .call(addr, "GET", "/api/v1/tokens?limit=1", None)
            .await?;
        if status != 200 {
            bail!("listing tokens answered {status}: {tokens}");
        }
        if tokens["data"]
            .as_array()
            .is_none_or(|data| !data.is_empty())
        {
            return Ok(None);
        }
        let body = serde_json::json!({"name": FIRST_TOKEN_NAME, "scopes": ["admin"]});
        let (status, minted) = self
            .call(addr, "POST", "/api/v1/tokens", Some(&body))
            .await?;
        match minted["token"].as_str() {
            Some(token) if status == 201 => Ok(Some(token.to_owned())),
            _ => bail!("minting the first admin token answered {status}"),
        }
    }

    /// One HTTP/1.1 request on its own connection; the status and the JSON
    /// body.
    async fn call(
        &self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.bootstrap_token,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        parse_response(&response)
    }
}

/// The status and JSON body of a complete HTTP/1.1 response with a
/// `Content-Length` (what the app's JSON answers carry).
fn parse_response(response: &[u8]) -> anyhow::Result<(u16, serde_json::Value)> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the response has no end of head")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .context("the response has no status")?;
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    Ok((status, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_into_status_and_json() {
        let (status, json) = parse_response(
            b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n\r\n{\"token\":\"phk_x\"}",
        )
        .unwrap();
        assert_eq!(status, 201);
        assert_eq!(json["token"], "phk_x");
        let (status, json) = parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap();
        assert_eq!((status, json), (404, serde_json::Value::Null));
        assert!(parse_response(b"garbage").is_err());
    }
}
