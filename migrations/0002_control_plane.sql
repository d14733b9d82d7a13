-- The control plane (issue 3): organizations, API tokens, prompts, their
-- immutable versions, and the append-only audit log.
--
-- Conventions:
-- - `seq` is the row's position (INTEGER PRIMARY KEY = SQLite's rowid). Lists
--   order by it and cursors point at it; it never appears in the API.
-- - `id` is the public id: a type prefix and 32 hex digits (`prm_…`).
-- - Times are milliseconds since the Unix epoch (UTC), as INTEGER.
-- - Every row carries `organization_id`; every query filters on it.

CREATE TABLE organizations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- The organization the bootstrap token administers, and the one that owns
-- the instance: its admins may create further organizations.
INSERT INTO organizations (id, name, created_at)
VALUES ('org_default', 'Default organization', CAST(unixepoch('subsec') * 1000 AS INTEGER));

CREATE TABLE api_tokens (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    -- HMAC-SHA256 of the token under the `token_hash_key` variable; the
    -- plaintext is never stored.
    token_hash TEXT NOT NULL UNIQUE,
    -- `phk_` and the first 4 hex digits, so people can tell tokens apart.
    token_prefix TEXT NOT NULL,
    -- JSON array of scope names, e.g. ["prompts:read"].
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at INTEGER
);

CREATE INDEX api_tokens_by_organization ON api_tokens (organization_id, seq);

CREATE TABLE prompts (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    archived_at INTEGER,
    -- The production pointer: moved only by promote.
    production_version_id TEXT,
    -- The newest save.
    development_version_id TEXT,
    -- Bumped by every change to what the gateway resolves for production
    -- (promote, archive, unarchive). The key-value cache stores it, so a
    -- writer can tell whether the entry it wrote is still current.
    generation INTEGER NOT NULL DEFAULT 0,
    UNIQUE (organization_id, slug)
);

CREATE INDEX prompts_by_organization ON prompts (organization_id, seq);

CREATE TABLE prompt_versions (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    prompt_id TEXT NOT NULL REFERENCES prompts (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    -- Semver text ("1.2.0"); also as numbers so the newest is found by ORDER BY.
    version TEXT NOT NULL,
    major INTEGER NOT NULL,
    minor INTEGER NOT NULL,
    patch INTEGER NOT NULL,
    system TEXT NOT NULL,
    user_template TEXT NOT NULL,
    -- JSON array of {name, type, required, default}.
    variables TEXT NOT NULL,
    model TEXT NOT NULL,
    temperature REAL,
    max_tokens INTEGER,
    top_p REAL,
    -- JSON array of strings.
    stop_sequences TEXT NOT NULL,
    message TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (prompt_id, version)
);

CREATE INDEX prompt_versions_by_prompt ON prompt_versions (prompt_id, seq);

-- Versions are immutable snapshots: nothing may change or remove one.
CREATE TRIGGER prompt_versions_no_update BEFORE UPDATE ON prompt_versions
BEGIN
    SELECT RAISE(ABORT, 'prompt versions are immutable');
END;

CREATE TRIGGER prompt_versions_no_delete BEFORE DELETE ON prompt_versions
BEGIN
    SELECT RAISE(ABORT, 'prompt versions are never deleted');
END;

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    -- e.g. prompt.create, prompt.version.create, prompt.promote, token.create.
    action TEXT NOT NULL,
    -- A token id, or a name for the system (`bootstrap`, `prompthelm up`).
    actor TEXT NOT NULL,
    -- What the actor is called (a token's name), as it was at the time.
    actor_name TEXT NOT NULL,
    actor_type TEXT NOT NULL CHECK (actor_type IN ('user', 'api_token', 'system')),
    -- The prompt the action concerns, if any (filters and promote history).
    prompt_id TEXT,
    -- The version the action concerns, if any: for prompt.promote the new
    -- production version, so "was this version ever production" is a lookup.
    version_id TEXT,
    -- JSON object with the action's own fields.
    details TEXT NOT NULL,
    request_id TEXT,
    created_at INTEGER NOT NULL
);

CREATE INDEX audit_log_by_organization ON audit_log (organization_id, seq);
CREATE INDEX audit_log_by_prompt ON audit_log (prompt_id, action, version_id);

-- The audit log is append-only.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
