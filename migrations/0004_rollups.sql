-- Analytics rollups (issue 5): one row per (organization, prompt, version,
-- hour), kept up to date by a trigger on execution_logs, so the gateway's
-- one INSERT per call also rolls it up, in the same implicit transaction.

-- The latency bucket of the call (`prompthelm_domain::latency::bucket_index`),
-- written by the gateway with the row; NULL in rows written before this
-- migration. The CHECK keeps it an integer bucket index, because the
-- trigger below builds a JSON path from it.
ALTER TABLE execution_logs ADD COLUMN latency_bucket INTEGER
    CHECK (typeof(latency_bucket) IN ('integer', 'null') AND latency_bucket BETWEEN 0 AND 2051);

CREATE TABLE execution_rollups (
    organization_id TEXT NOT NULL,
    -- '' for calls without a prompt (ad-hoc, or failed before resolving),
    -- and '' version for calls without a version: NULLs never conflict.
    prompt_key TEXT NOT NULL,
    hour_start INTEGER NOT NULL,
    version_key TEXT NOT NULL,
    calls INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    latency_sum_ms INTEGER NOT NULL,
    cost_usd_sum REAL NOT NULL,
    cost_unknown_calls INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    -- `LatencySketch::encode`: {"v":1,"b":{"<bucket>":<count>,...}}
    latency_sketch TEXT NOT NULL,
    PRIMARY KEY (organization_id, prompt_key, hour_start, version_key)
);

CREATE TABLE execution_rollup_errors (
    organization_id TEXT NOT NULL,
    prompt_key TEXT NOT NULL,
    hour_start INTEGER NOT NULL,
    version_key TEXT NOT NULL,
    error_code TEXT NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (organization_id, prompt_key, hour_start, version_key, error_code)
) WITHOUT ROWID;

CREATE TRIGGER execution_logs_roll_up
AFTER INSERT ON execution_logs
BEGIN
    INSERT INTO execution_rollups (organization_id, prompt_key, hour_start, version_key,
        calls, successes, latency_sum_ms, cost_usd_sum, cost_unknown_calls,
        input_tokens, output_tokens, cached_input_tokens, latency_sketch)
    VALUES (NEW.organization_id, coalesce(NEW.prompt_id, ''),
        NEW.created_at - NEW.created_at % 3600000, coalesce(NEW.version_id, ''),
        1, NEW.status = 'success', max(NEW.latency_ms, 0), NEW.cost_usd, NEW.cost_known = 0,
        NEW.input_tokens, NEW.output_tokens, NEW.cached_input_tokens,
        json_object('v', 1, 'b', CASE WHEN NEW.latency_bucket IS NULL THEN json_object()
            ELSE json_object(CAST(NEW.latency_bucket AS TEXT), 1) END))
    ON CONFLICT (organization_id, prompt_key, hour_start, version_key) DO UPDATE SET
        calls = calls + 1,
        successes = successes + excluded.successes,
        latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms,
        cost_usd_sum = cost_usd_sum + excluded.cost_usd_sum,
        cost_unknown_calls = cost_unknown_calls + excluded.cost_unknown_calls,
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
        latency_sketch = CASE WHEN NEW.latency_bucket IS NULL THEN latency_sketch
            ELSE json_set(latency_sketch, '$.b."' || NEW.latency_bucket || '"',
                coalesce(json_extract(latency_sketch, '$.b."' || NEW.latency_bucket || '"'), 0) + 1)
            END;

    INSERT INTO execution_rollup_errors (organization_id, prompt_key, hour_start, version_key,
        error_code, calls)
    SELECT NEW.organization_id, coalesce(NEW.prompt_id, ''),
        NEW.created_at - NEW.created_at % 3600000, coalesce(NEW.version_id, ''),
        NEW.error_code, 1
    WHERE NEW.error_code IS NOT NULL
    ON CONFLICT (organization_id, prompt_key, hour_start, version_key, error_code)
        DO UPDATE SET calls = calls + 1;
END;

-- Time-range filters of the logs list (`from`, `to`) and the retention purge
-- (`created_at < cutoff`) read this instead of scanning the organization.
CREATE INDEX execution_logs_by_time ON execution_logs (organization_id, created_at);
