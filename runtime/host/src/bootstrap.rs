//! PromptHelm's first run, the one app-specific step of the runtime: when
//! `up` finds no API token in the database and no `bootstrap_token`
//! variable, it mints an admin token for the default organization and
//! prints it once, so a fresh checkout can be used at once.
//!
//! It writes exactly what the `tokens` component writes when minting (the
//! keyed hash under the `token_hash_key` variable, never the plaintext, and
//! a `token.create` audit entry by the system), in one transaction. Under
//! real Spin, which has no such step, the `bootstrap_token` variable plays
//! this part. An app whose schema has no `api_tokens` table, or which does
//! not declare `token_hash_key`, is left alone.

use anyhow::Context as _;
use prompthelm_domain::auth::{Scope, format_token, hash_token};
use prompthelm_domain::ids::{self, AUDIT, DEFAULT_ORGANIZATION, TOKEN};
use prompthelm_manifest::variables::Variables;
use rusqlite::{OptionalExtension as _, params};

use crate::factors::sqlite::FileDatabase;
use crate::os::random_bytes;

/// The name the runtime acts under in the audit log.
const ACTOR: &str = "prompthelm up";

/// Mints the first admin token if the database has none and no bootstrap
/// token is configured; returns the plaintext to show, once.
pub fn ensure_admin_token(
    variables: &Variables,
    db: &FileDatabase,
    now_unix_millis: i64,
) -> anyhow::Result<Option<String>> {
    let Some(key) = variables.get("token_hash_key") else {
        return Ok(None);
    };
    if variables
        .get("bootstrap_token")
        .is_some_and(|t| !t.is_empty())
    {
        return Ok(None);
    }
    if key.is_empty() {
        anyhow::bail!("the variable token_hash_key is empty; set it to a long random secret");
    }
    let mut conn = db
        .open_connection()
        .context("opening the default database")?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let has_table = tx
        .query_row(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'api_tokens'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !has_table {
        return Ok(None);
    }
    let tokens: i64 = tx.query_row("SELECT COUNT(*) FROM api_tokens", [], |r| r.get(0))?;
    if tokens > 0 {
        return Ok(None);
    }

    let secret = format_token(random_bytes());
    let id = ids::new_id(TOKEN, random_bytes());
    let name = "first admin (created by prompthelm up)";
    let scopes = [Scope::Admin];
    tx.execute(
        "INSERT INTO api_tokens (id, organization_id, name, token_hash, token_prefix, scopes, \
         created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            id,
            DEFAULT_ORGANIZATION,
            name,
            hash_token(key.as_bytes(), &secret),
            &secret[..8],
            serde_json::to_string(&scopes)?,
            now_unix_millis,
            ACTOR,
        ],
    )?;
    tx.execute(
        "INSERT INTO audit_log (id, organization_id, action, actor, actor_name, actor_type, \
         details, created_at) VALUES (?, ?, 'token.create', ?, ?, 'system', ?, ?)",
        params![
            ids::new_id(AUDIT, random_bytes()),
            DEFAULT_ORGANIZATION,
            ACTOR,
            ACTOR,
            serde_json::json!({
                "tokenId": id,
                "name": name,
                "scopes": scopes,
                "organizationId": DEFAULT_ORGANIZATION,
            })
            .to_string(),
            now_unix_millis,
        ],
    )?;
    tx.commit()?;
    Ok(Some(secret))
}
