-- Daily analytics rollups (issue 5): the same measures as 0004's hourly
-- rows, per (organization, prompt, version, UTC day), kept by a second
-- trigger on execution_logs in the same statement as the log row. Day
-- buckets (7d and 30d windows) read 1 row per day and version instead of
-- 24, so their cost stays flat however busy the hours are: a busy hour's
-- sketch holds hundreds of latency buckets, and a month of hourly sketches
-- is hundreds of thousands of entries to read and merge.

CREATE TABLE execution_rollups_daily (
    organization_id TEXT NOT NULL,
    prompt_key TEXT NOT NULL,
    day_start INTEGER NOT NULL,
    version_key TEXT NOT NULL,
    calls INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    latency_sum_ms INTEGER NOT NULL,
    cost_usd_sum REAL NOT NULL,
    cost_unknown_calls INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    latency_sketch TEXT NOT NULL,
    PRIMARY KEY (organization_id, prompt_key, day_start, version_key)
);

CREATE TABLE execution_rollup_errors_daily (
    organization_id TEXT NOT NULL,
    prompt_key TEXT NOT NULL,
    day_start INTEGER NOT NULL,
    version_key TEXT NOT NULL,
    error_code TEXT NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (organization_id, prompt_key, day_start, version_key, error_code)
) WITHOUT ROWID;

-- What 0004 already rolled up by hour, merged into days: sums add, and the
-- sketches' bucket counts add key by key (json_each / json_group_object).
INSERT INTO execution_rollups_daily (organization_id, prompt_key, day_start, version_key,
    calls, successes, latency_sum_ms, cost_usd_sum, cost_unknown_calls,
    input_tokens, output_tokens, cached_input_tokens, latency_sketch)
SELECT h.organization_id, h.prompt_key, h.hour_start - h.hour_start % 86400000, h.version_key,
    sum(h.calls), sum(h.successes), sum(h.latency_sum_ms), sum(h.cost_usd_sum),
    sum(h.cost_unknown_calls), sum(h.input_tokens), sum(h.output_tokens),
    sum(h.cached_input_tokens),
    (SELECT json_object('v', 1, 'b', json(coalesce(json_group_object(b.bucket, b.calls), '{}')))
     FROM (SELECT j.key AS bucket, sum(j.value) AS calls
           FROM execution_rollups AS d, json_each(d.latency_sketch, '$.b') AS j
           WHERE d.organization_id = h.organization_id AND d.prompt_key = h.prompt_key
             AND d.version_key = h.version_key
             AND d.hour_start - d.hour_start % 86400000 = h.hour_start - h.hour_start % 86400000
           GROUP BY j.key) AS b)
FROM execution_rollups AS h
GROUP BY h.organization_id, h.prompt_key, h.hour_start - h.hour_start % 86400000, h.version_key;

INSERT INTO execution_rollup_errors_daily (organization_id, prompt_key, day_start, version_key,
    error_code, calls)
SELECT organization_id, prompt_key, hour_start - hour_start % 86400000, version_key,
    error_code, sum(calls)
FROM execution_rollup_errors
GROUP BY organization_id, prompt_key, hour_start - hour_start % 86400000, version_key, error_code;

CREATE TRIGGER execution_logs_roll_up_daily
AFTER INSERT ON execution_logs
BEGIN
    INSERT INTO execution_rollups_daily (organization_id, prompt_key, day_start, version_key,
        calls, successes, latency_sum_ms, cost_usd_sum, cost_unknown_calls,
        input_tokens, output_tokens, cached_input_tokens, latency_sketch)
    VALUES (NEW.organization_id, coalesce(NEW.prompt_id, ''),
        NEW.created_at - NEW.created_at % 86400000, coalesce(NEW.version_id, ''),
        1, NEW.status = 'success', max(NEW.latency_ms, 0), NEW.cost_usd, NEW.cost_known = 0,
        NEW.input_tokens, NEW.output_tokens, NEW.cached_input_tokens,
        json_object('v', 1, 'b', CASE WHEN NEW.latency_bucket IS NULL THEN json_object()
            ELSE json_object(CAST(NEW.latency_bucket AS TEXT), 1) END))
    ON CONFLICT (organization_id, prompt_key, day_start, version_key) DO UPDATE SET
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

    INSERT INTO execution_rollup_errors_daily (organization_id, prompt_key, day_start,
        version_key, error_code, calls)
    SELECT NEW.organization_id, coalesce(NEW.prompt_id, ''),
        NEW.created_at - NEW.created_at % 86400000, coalesce(NEW.version_id, ''),
        NEW.error_code, 1
    WHERE NEW.error_code IS NOT NULL
    ON CONFLICT (organization_id, prompt_key, day_start, version_key, error_code)
        DO UPDATE SET calls = calls + 1;
END;
