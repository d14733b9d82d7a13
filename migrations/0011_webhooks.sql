-- Webhooks (issue 17 §3, "notify"): an organization's endpoints, the
-- deliveries the regression watch enqueues for them, and every attempt.
--
-- A delivery is written in the transaction that stores the verdict it
-- announces (so there is no verdict without its deliveries) and is sent
-- later by whoever claims it: the gateway after a watch evaluation, or
-- `POST /webhooks/:id/deliveries/:did/retry`. The claim is one conditional
-- UPDATE of `sending_until` (a lease longer than a send may take), so two
-- replicas never send the same attempt.

CREATE TABLE webhooks (
    -- The position in lists (newest first).
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    url TEXT NOT NULL,
    -- The event types subscribed to, as a JSON array of strings.
    events TEXT NOT NULL,
    description TEXT,
    -- The signing secret (`whsec_` + 64 hex). Stored as is because every
    -- delivery is signed with it; shown only in the answer that created it.
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
);

CREATE INDEX webhooks_by_organization ON webhooks (organization_id, seq);

CREATE TABLE webhook_deliveries (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    webhook_id TEXT NOT NULL REFERENCES webhooks (id),
    event TEXT NOT NULL,
    prompt_id TEXT,
    -- The exact body sent on every attempt (signed as is).
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    -- Attempts started (claimed), manual ones included.
    attempts INTEGER NOT NULL DEFAULT 0,
    -- When the next automatic attempt is due (Unix ms); NULL once
    -- delivered or failed.
    next_attempt_at INTEGER,
    -- Until when an attempt in flight holds it (Unix ms); 0 when none.
    sending_until INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- What is due, per organization (the gateway's look-up).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (organization_id, next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempt INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    -- The receiver's status, or NULL when none came (then `error` says why).
    http_status INTEGER,
    error TEXT,
    -- Whether a person asked for it (`.../retry`).
    manual INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (delivery_id, attempt)
) WITHOUT ROWID;

-- The regression a watch last announced (`<subject>:<candidate>:<since>`),
-- so each regression is announced once, not at every evaluation.
ALTER TABLE prompt_watches ADD COLUMN notified TEXT;
