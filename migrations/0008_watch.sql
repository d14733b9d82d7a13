-- The regression watch (issue 17 §3): one policy per prompt, and the last
-- verdict it reached. A row exists once a policy was PUT; no row is mode
-- `off`. Changing the policy bumps `prompts.generation` (the gateway's
-- cache entry carries the mode and thresholds), so the gateway pays no
-- extra SQL for prompts without a watch.
--
-- The pair of versions compared is not stored: it is derived at each
-- evaluation from what runs (the canary: production against the
-- candidate since the canary started) or, with no canary, from the last
-- `prompt.promote` audit entry inside the window (the previous version's
-- calls in the window before the promote against the new version's
-- since). So the watch can never compare a stale pair.

CREATE TABLE prompt_watches (
    prompt_id TEXT PRIMARY KEY REFERENCES prompts (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    mode TEXT NOT NULL CHECK (mode IN ('off', 'notify', 'rollback')),
    -- `domain::watch::Policy` as JSON (mode included).
    policy TEXT NOT NULL,
    -- When an evaluation was last claimed (Unix ms): the claim is one
    -- conditional UPDATE, so replicas evaluate a prompt at most once per
    -- `domain::watch::EVALUATE_EVERY_MS`.
    evaluated_at INTEGER NOT NULL DEFAULT 0,
    -- The last verdict (`store::watch::Verdict` as JSON), NULL before one.
    verdict TEXT,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
) WITHOUT ROWID;
