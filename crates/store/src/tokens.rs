//! API tokens and organizations: minting (the secret is returned once and
//! only its keyed hash is stored), listing without secrets, revoking.

use prompthelm_component_kit::{ApiError, secure_random_bytes};
use prompthelm_domain::auth::{Scope, format_token, hash_token};
use prompthelm_domain::envelope::codes;
use prompthelm_domain::ids::{self, ORGANIZATION, TOKEN};
use prompthelm_domain::pagination::{Page, PageRequest};
use prompthelm_domain::time::rfc3339_millis;
use serde::Serialize;
use spin_sdk::sqlite::Value;

use crate::Stamp;
use crate::audit::{self, NewEntry, actions};
use crate::auth::Principal;
use crate::db::{Db, Row, json_text};

/// A token as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// `phk_` and the first 4 hex digits, to tell tokens apart.
    pub prefix: String,
    pub created_at: String,
    pub created_by: String,
    pub revoked: bool,
    pub revoked_at: Option<String>,
}

/// A token just minted: the record and, this once, the secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MintedToken {
    #[serde(flatten)]
    pub record: Token,
    /// The plaintext token, as `token`. It is not stored and cannot be
    /// shown again.
    #[serde(rename = "token")]
    pub secret: String,
}

/// What `createdBy` says of a token minted into an organization by someone
/// outside it (an organization's first admin token, minted by an operator
/// of the default organization): nothing of another organization is shown.
pub const OPERATOR_CREATOR: &str = "instance operator";

/// The columns [`token`] reads, from `api_tokens AS t`. `created_by` of a
/// token minted by another organization (stored before minting recorded
/// [`OPERATOR_CREATOR`] itself) is masked too: such a token is its
/// organization's first, minted in the same transaction, with the same
/// timestamp, as the organization.
const TOKEN_COLUMNS: &str = "t.seq, t.id, t.name, t.scopes, t.token_prefix, t.created_at, \
     CASE WHEN EXISTS (SELECT 1 FROM organizations o WHERE o.id = t.organization_id \
     AND o.created_at = t.created_at AND o.id <> 'org_default') \
     THEN 'instance operator' ELSE t.created_by END, t.revoked_at";

fn token(row: &Row) -> Result<Token, ApiError> {
    let revoked_at = row.opt_int(7)?;
    Ok(Token {
        id: row.text(1)?,
        name: row.text(2)?,
        scopes: row.json(3)?,
        prefix: row.text(4)?,
        created_at: rfc3339_millis(row.int(5)?),
        created_by: row.text(6)?,
        revoked: revoked_at.is_some(),
        revoked_at: revoked_at.map(rfc3339_millis),
    })
}

/// What a new token is, already validated.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    /// Where the token belongs; usually the minting principal's own.
    pub organization_id: &'a str,
    pub name: &'a str,
    pub scopes: &'a [Scope],
}

/// Mints a token on behalf of `principal` and audits it (in `principal`'s
/// organization), storing only its hash under `hash_key`. Call inside a
/// transaction.
pub async fn mint(
    db: &Db,
    principal: &Principal,
    new: NewToken<'_>,
    hash_key: &str,
    stamp: Stamp<'_>,
) -> Result<MintedToken, ApiError> {
    let NewToken {
        organization_id,
        name,
        scopes,
    } = new;
    // The minter's name only when it belongs to the same organization.
    let created_by = if organization_id == principal.organization_id {
        principal.actor_name.clone()
    } else {
        OPERATOR_CREATOR.to_owned()
    };
    let secret = format_token(secure_random_bytes());
    let id = ids::new_id(TOKEN, secure_random_bytes());
    let prefix = secret[..8].to_owned();
    db.run(
        "INSERT INTO api_tokens (id, organization_id, name, token_hash, token_prefix, scopes, \
         created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            Value::Text(id.clone()),
            Value::Text(organization_id.to_owned()),
            Value::Text(name.to_owned()),
            Value::Text(hash_token(hash_key.as_bytes(), &secret)),
            Value::Text(prefix.clone()),
            Value::Text(json_text(scopes)?),
            Value::Integer(stamp.now),
            Value::Text(created_by.clone()),
        ],
    )
    .await?;
    audit::append(
        db,
        principal,
        stamp,
        NewEntry {
            action: actions::TOKEN_CREATE,
            prompt_id: None,
            version_id: None,
            details: serde_json::json!({
                "tokenId": id,
                "name": name,
                "scopes": scopes,
                "organizationId": organization_id,
            }),
        },
    )
    .await?;
    Ok(MintedToken {
        record: Token {
            id,
            name: name.to_owned(),
            scopes: scopes.to_vec(),
            prefix,
            created_at: rfc3339_millis(stamp.now),
            created_by,
            revoked: false,
            revoked_at: None,
        },
        secret,
    })
}

/// A page of the organization's tokens, oldest first.
pub async fn list(
    db: &Db,
    organization_id: &str,
    page: &PageRequest,
) -> Result<Page<Token>, ApiError> {
    db.page(
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens AS t WHERE t.organization_id = ? \
             AND t.seq > ? ORDER BY t.seq LIMIT ?"
        ),
        vec![
            Value::Text(organization_id.to_owned()),
            Value::Integer(page.after.unwrap_or(0)),
        ],
        page,
        token,
    )
    .await
}

/// One token of the organization.
pub async fn get(db: &Db, organization_id: &str, token_id: &str) -> Result<Token, ApiError> {
    let row = db
        .row(
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens AS t WHERE t.organization_id = ? AND t.id = ?"
            ),
            [
                Value::Text(organization_id.to_owned()),
                Value::Text(token_id.to_owned()),
            ],
        )
        .await?
        .ok_or_else(|| {
            ApiError::not_found(codes::TOKEN_NOT_FOUND, format!("no token {token_id}"))
        })?;
    token(&row)
}

/// Revokes a token of `principal`'s organization and audits it. Revoking a
/// revoked token changes nothing and writes no entry. Call inside a
/// transaction.
pub async fn revoke(
    db: &Db,
    principal: &Principal,
    token_id: &str,
    stamp: Stamp<'_>,
) -> Result<Token, ApiError> {
    let current = get(db, &principal.organization_id, token_id).await?;
    if current.revoked {
        return Ok(current);
    }
    db.run(
        "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        [Value::Integer(stamp.now), Value::Text(token_id.to_owned())],
    )
    .await?;
    audit::append(
        db,
        principal,
        stamp,
        NewEntry {
            action: actions::TOKEN_REVOKE,
            prompt_id: None,
            version_id: None,
            details: serde_json::json!({"tokenId": token_id, "name": current.name}),
        },
    )
    .await?;
    Ok(Token {
        revoked: true,
        revoked_at: Some(rfc3339_millis(stamp.now)),
        ..current
    })
}

/// An organization as served.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

/// The organization with this id.
pub async fn organization(db: &Db, organization_id: &str) -> Result<Organization, ApiError> {
    let row = db
        .row(
            "SELECT id, name, created_at FROM organizations WHERE id = ?",
            [Value::Text(organization_id.to_owned())],
        )
        .await?
        .ok_or_else(|| ApiError::internal(format!("organization {organization_id} is missing")))?;
    Ok(Organization {
        id: row.text(0)?,
        name: row.text(1)?,
        created_at: rfc3339_millis(row.int(2)?),
    })
}

/// Creates an organization and audits it in `principal`'s organization.
/// Call inside a transaction.
pub async fn create_organization(
    db: &Db,
    principal: &Principal,
    name: &str,
    stamp: Stamp<'_>,
) -> Result<Organization, ApiError> {
    let id = ids::new_id(ORGANIZATION, secure_random_bytes());
    db.run(
        "INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)",
        [
            Value::Text(id.clone()),
            Value::Text(name.to_owned()),
            Value::Integer(stamp.now),
        ],
    )
    .await?;
    audit::append(
        db,
        principal,
        stamp,
        NewEntry {
            action: actions::ORGANIZATION_CREATE,
            prompt_id: None,
            version_id: None,
            details: serde_json::json!({"organizationId": id, "name": name}),
        },
    )
    .await?;
    Ok(Organization {
        id,
        name: name.to_owned(),
        created_at: rfc3339_millis(stamp.now),
    })
}
