-- The sticky canary (issue 17 §2): at most one per prompt, splitting its
-- production traffic between the production version and a candidate.
-- Starting, changing and ending one bumps `prompts.generation` in the same
-- transaction (with its audit entry), so the gateway's cache entry, which
-- carries the canary, is served only while it is current. Ending a canary
-- deletes its row; its history is the audit log (prompt.canary.start,
-- .update, .end).

CREATE TABLE prompt_canaries (
    prompt_id TEXT PRIMARY KEY REFERENCES prompts (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    -- The candidate: a version of the same prompt, never the production one.
    version_id TEXT NOT NULL REFERENCES prompt_versions (id),
    -- The candidate's share of production calls, in whole percent.
    percent INTEGER NOT NULL CHECK (typeof(percent) = 'integer' AND percent BETWEEN 0 AND 100),
    sticky_by TEXT NOT NULL CHECK (sticky_by IN ('user', 'request')),
    started_at INTEGER NOT NULL,
    -- The actor's name, as audit entries show it.
    started_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Whether the call was served by a running canary's candidate (1) or not.
ALTER TABLE execution_logs ADD COLUMN canary INTEGER NOT NULL DEFAULT 0 CHECK (canary IN (0, 1));
