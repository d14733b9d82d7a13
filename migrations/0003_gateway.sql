-- The gateway (issue 4): one row per execute or stream call that passed
-- authentication, and the per-token rate-limit counters.
--
-- Same conventions as 0002: `seq` orders rows, `id` is public, times are
-- milliseconds since the Unix epoch, every row carries `organization_id`.

CREATE TABLE execution_logs (
    seq INTEGER PRIMARY KEY,
    -- `exe_…`, also the `id` of the execute answer and of the stream's last frame.
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL,
    -- The token that made the call (`tok_…`, or `bootstrap`).
    actor TEXT NOT NULL,
    -- NULL for an ad-hoc call, or when the call failed before resolving.
    prompt_id TEXT,
    version_id TEXT,
    version TEXT,
    environment TEXT CHECK (environment IN ('production', 'development')),
    -- NULL when the call failed before a model was known.
    model TEXT,
    provider TEXT,
    stream INTEGER NOT NULL CHECK (stream IN (0, 1)),
    status TEXT NOT NULL CHECK (status IN ('success', 'error')),
    error_code TEXT,
    http_status INTEGER NOT NULL,
    -- From the request's arrival to the answer (execute) or the last frame
    -- (stream), and the part of it spent waiting on the provider.
    latency_ms INTEGER NOT NULL,
    provider_latency_ms INTEGER,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_input_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    -- 0 when the model is not in the price table (its cost is then 0).
    cost_known INTEGER NOT NULL CHECK (cost_known IN (0, 1)),
    request_id TEXT NOT NULL,
    user_agent TEXT,
    -- What was sent to the provider and what came back (or the stream's
    -- transcript), as JSON text, secrets redacted, each capped in size.
    request_body TEXT,
    response_body TEXT,
    created_at INTEGER NOT NULL
);

CREATE INDEX execution_logs_by_organization ON execution_logs (organization_id, seq);
CREATE INDEX execution_logs_by_prompt ON execution_logs (organization_id, prompt_id, seq);

-- Logs are evidence: they are never edited (retention deletes old rows, so
-- DELETE stays allowed).
CREATE TRIGGER execution_logs_are_immutable
BEFORE UPDATE ON execution_logs
BEGIN
    SELECT RAISE(ABORT, 'execution logs are immutable');
END;

-- Fixed one-minute windows: `window_start` is the minute's first millisecond.
-- The gateway increments with one UPSERT, so concurrent calls count exactly.
CREATE TABLE gateway_rate_windows (
    subject TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (subject, window_start)
) WITHOUT ROWID;
