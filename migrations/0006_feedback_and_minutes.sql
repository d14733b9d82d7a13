-- Issue 17 §1 and §1b: minute rollups of the calls, feedback on calls and
-- per-prompt signals, each rolled up by trigger so analytics keep reading
-- O(buckets) rows.
--
-- Minute rollups: the same measures as 0004's hourly rows, per
-- (organization, prompt, version, UTC minute), kept by a third trigger on
-- execution_logs in the same statement as the log row. They serve the
-- 1h/6h windows (and custom windows up to 48 h) and are kept for 48 hours:
-- see `prune_minutes` below. Calls logged before this migration have no
-- minute rows (no backfill: minute windows only reach 48 hours back).

CREATE TABLE execution_rollups_minute (
    organization_id TEXT NOT NULL,
    prompt_key TEXT NOT NULL,
    minute_start INTEGER NOT NULL,
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
    PRIMARY KEY (organization_id, prompt_key, minute_start, version_key)
);

CREATE TABLE execution_rollup_errors_minute (
    organization_id TEXT NOT NULL,
    prompt_key TEXT NOT NULL,
    minute_start INTEGER NOT NULL,
    version_key TEXT NOT NULL,
    error_code TEXT NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (organization_id, prompt_key, minute_start, version_key, error_code)
) WITHOUT ROWID;

CREATE TRIGGER execution_logs_roll_up_minute
AFTER INSERT ON execution_logs
BEGIN
    INSERT INTO execution_rollups_minute (organization_id, prompt_key, minute_start, version_key,
        calls, successes, latency_sum_ms, cost_usd_sum, cost_unknown_calls,
        input_tokens, output_tokens, cached_input_tokens, latency_sketch)
    VALUES (NEW.organization_id, coalesce(NEW.prompt_id, ''),
        NEW.created_at - NEW.created_at % 60000, coalesce(NEW.version_id, ''),
        1, NEW.status = 'success', max(NEW.latency_ms, 0), NEW.cost_usd, NEW.cost_known = 0,
        NEW.input_tokens, NEW.output_tokens, NEW.cached_input_tokens,
        json_object('v', 1, 'b', CASE WHEN NEW.latency_bucket IS NULL THEN json_object()
            ELSE json_object(CAST(NEW.latency_bucket AS TEXT), 1) END))
    ON CONFLICT (organization_id, prompt_key, minute_start, version_key) DO UPDATE SET
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

    INSERT INTO execution_rollup_errors_minute (organization_id, prompt_key, minute_start,
        version_key, error_code, calls)
    SELECT NEW.organization_id, coalesce(NEW.prompt_id, ''),
        NEW.created_at - NEW.created_at % 60000, coalesce(NEW.version_id, ''),
        NEW.error_code, 1
    WHERE NEW.error_code IS NOT NULL
    ON CONFLICT (organization_id, prompt_key, minute_start, version_key, error_code)
        DO UPDATE SET calls = calls + 1;
END;

-- Feedback on calls: one row per (execution, name, source); a second score
-- of the same execution, name and source replaces the first (UPDATE). The
-- call's prompt, version and time are copied from its execution log, so
-- the rollups put the feedback in the bucket of the call it judges, next
-- to the version that served it, and survive the log retention purge.
CREATE TABLE execution_feedback (
    seq INTEGER PRIMARY KEY,
    -- `fbk_…`
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    -- '' when the call had no prompt or version (as in the rollups).
    prompt_key TEXT NOT NULL,
    version_key TEXT NOT NULL,
    -- The call's `execution_logs.created_at`.
    call_at INTEGER NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    score REAL NOT NULL,
    comment TEXT,
    -- A JSON object, as text.
    metadata TEXT,
    -- The token that sent the (latest) score.
    actor TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (organization_id, execution_id, name, source)
);

-- Feedback per (prompt, granularity, bucket, version, name): calls judged,
-- negative scores (score < 0) and the sum of scores. `bucket_ms` is 60000,
-- 3600000 or 86400000: minute rows serve minute buckets, and so on, so any
-- window reads O(buckets × versions × names) rows.
CREATE TABLE feedback_rollups (
    organization_id TEXT NOT NULL,
    prompt_key TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    bucket_start INTEGER NOT NULL,
    version_key TEXT NOT NULL,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    negative INTEGER NOT NULL,
    score_sum REAL NOT NULL,
    PRIMARY KEY (organization_id, prompt_key, bucket_ms, bucket_start, version_key, name)
) WITHOUT ROWID;

-- A new score adds to its three buckets.
CREATE TRIGGER execution_feedback_roll_up
AFTER INSERT ON execution_feedback
BEGIN
    INSERT INTO feedback_rollups (organization_id, prompt_key, bucket_ms, bucket_start,
        version_key, name, count, negative, score_sum)
    VALUES (NEW.organization_id, NEW.prompt_key, 60000, NEW.call_at - NEW.call_at % 60000,
        NEW.version_key, NEW.name, 1, NEW.score < 0, NEW.score)
    ON CONFLICT (organization_id, prompt_key, bucket_ms, bucket_start, version_key, name)
        DO UPDATE SET count = count + 1, negative = negative + excluded.negative,
            score_sum = score_sum + excluded.score_sum;
    INSERT INTO feedback_rollups (organization_id, prompt_key, bucket_ms, bucket_start,
        version_key, name, count, negative, score_sum)
    VALUES (NEW.organization_id, NEW.prompt_key, 3600000, NEW.call_at - NEW.call_at % 3600000,
        NEW.version_key, NEW.name, 1, NEW.score < 0, NEW.score)
    ON CONFLICT (organization_id, prompt_key, bucket_ms, bucket_start, version_key, name)
        DO UPDATE SET count = count + 1, negative = negative + excluded.negative,
            score_sum = score_sum + excluded.score_sum;
    INSERT INTO feedback_rollups (organization_id, prompt_key, bucket_ms, bucket_start,
        version_key, name, count, negative, score_sum)
    VALUES (NEW.organization_id, NEW.prompt_key, 86400000, NEW.call_at - NEW.call_at % 86400000,
        NEW.version_key, NEW.name, 1, NEW.score < 0, NEW.score)
    ON CONFLICT (organization_id, prompt_key, bucket_ms, bucket_start, version_key, name)
        DO UPDATE SET count = count + 1, negative = negative + excluded.negative,
            score_sum = score_sum + excluded.score_sum;
END;

-- A replaced score moves the rollups: the old score is taken out of its
-- buckets and the new one added, in the statement that replaces it. Only
-- the score may change (the key columns never do, see `feedback_keys_fixed`),
-- so the buckets are the same and each gets one UPDATE. A minute row that
-- the retention already deleted simply is not updated.
CREATE TRIGGER execution_feedback_rescore
AFTER UPDATE OF score ON execution_feedback
BEGIN
    UPDATE feedback_rollups SET
        negative = negative - (OLD.score < 0) + (NEW.score < 0),
        score_sum = score_sum - OLD.score + NEW.score
    WHERE organization_id = NEW.organization_id AND prompt_key = NEW.prompt_key
        AND version_key = NEW.version_key AND name = NEW.name
        AND ((bucket_ms = 60000 AND bucket_start = NEW.call_at - NEW.call_at % 60000)
            OR (bucket_ms = 3600000 AND bucket_start = NEW.call_at - NEW.call_at % 3600000)
            OR (bucket_ms = 86400000 AND bucket_start = NEW.call_at - NEW.call_at % 86400000));
END;

-- What a feedback row is about never changes, so the rollups stay right.
CREATE TRIGGER feedback_keys_fixed
BEFORE UPDATE OF organization_id, execution_id, prompt_key, version_key, call_at, name, source
ON execution_feedback
BEGIN
    SELECT RAISE(ABORT, 'a feedback row keeps its execution, name and source');
END;

-- Feedback rows are replaced, never deleted: a DELETE would leave the
-- rollups counting it.
CREATE TRIGGER execution_feedback_no_delete
BEFORE DELETE ON execution_feedback
BEGIN
    SELECT RAISE(ABORT, 'feedback is never deleted');
END;

-- Product signals of a prompt that are not tied to one call ("support
-- tickets tagged with this feature"): a name, a value and the time it is
-- about. Append-only.
CREATE TABLE prompt_signals (
    seq INTEGER PRIMARY KEY,
    -- `sig_…`
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    -- The time the value is about (ms); bucketed by it.
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX prompt_signals_by_prompt ON prompt_signals (organization_id, prompt_id, seq);

CREATE TRIGGER prompt_signals_no_change
BEFORE UPDATE ON prompt_signals
BEGIN
    SELECT RAISE(ABORT, 'signals are immutable');
END;

-- Signals per (prompt, granularity, bucket, name): how many values and
-- their sum.
CREATE TABLE signal_rollups (
    organization_id TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    bucket_start INTEGER NOT NULL,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    value_sum REAL NOT NULL,
    PRIMARY KEY (organization_id, prompt_id, bucket_ms, bucket_start, name)
) WITHOUT ROWID;

CREATE TRIGGER prompt_signals_roll_up
AFTER INSERT ON prompt_signals
BEGIN
    INSERT INTO signal_rollups (organization_id, prompt_id, bucket_ms, bucket_start, name,
        count, value_sum)
    VALUES (NEW.organization_id, NEW.prompt_id, 60000, NEW.at - NEW.at % 60000, NEW.name,
        1, NEW.value)
    ON CONFLICT (organization_id, prompt_id, bucket_ms, bucket_start, name)
        DO UPDATE SET count = count + 1, value_sum = value_sum + excluded.value_sum;
    INSERT INTO signal_rollups (organization_id, prompt_id, bucket_ms, bucket_start, name,
        count, value_sum)
    VALUES (NEW.organization_id, NEW.prompt_id, 3600000, NEW.at - NEW.at % 3600000, NEW.name,
        1, NEW.value)
    ON CONFLICT (organization_id, prompt_id, bucket_ms, bucket_start, name)
        DO UPDATE SET count = count + 1, value_sum = value_sum + excluded.value_sum;
    INSERT INTO signal_rollups (organization_id, prompt_id, bucket_ms, bucket_start, name,
        count, value_sum)
    VALUES (NEW.organization_id, NEW.prompt_id, 86400000, NEW.at - NEW.at % 86400000, NEW.name,
        1, NEW.value)
    ON CONFLICT (organization_id, prompt_id, bucket_ms, bucket_start, name)
        DO UPDATE SET count = count + 1, value_sum = value_sum + excluded.value_sum;
    -- Minute retention, as for the calls: signals are not on the gateway's
    -- path, so every signal may prune its prompt's old minutes.
    DELETE FROM signal_rollups
    WHERE organization_id = NEW.organization_id AND prompt_id = NEW.prompt_id
        AND bucket_ms = 60000 AND bucket_start < NEW.at - NEW.at % 60000 - 172800000;
END;

-- Minute retention. An AFTER INSERT trigger does not fire when the UPSERT
-- above takes its DO UPDATE path, so this runs only when a call opens a new
-- (prompt, version, minute) row: at most once per minute and version, never
-- per call. It deletes that organization's and prompt's minute rows more
-- than 48 hours older than the new one, a range scan of the primary key
-- that finds nothing or the few minutes that just aged out. Minutes of a
-- prompt that gets no more calls stay until its next call; reads never
-- look at them (a minute window is at most 48 hours and inside retention).
CREATE TRIGGER execution_rollups_minute_prune
AFTER INSERT ON execution_rollups_minute
BEGIN
    DELETE FROM execution_rollups_minute
    WHERE organization_id = NEW.organization_id AND prompt_key = NEW.prompt_key
        AND minute_start < NEW.minute_start - 172800000;
    DELETE FROM execution_rollup_errors_minute
    WHERE organization_id = NEW.organization_id AND prompt_key = NEW.prompt_key
        AND minute_start < NEW.minute_start - 172800000;
    DELETE FROM feedback_rollups
    WHERE organization_id = NEW.organization_id AND prompt_key = NEW.prompt_key
        AND bucket_ms = 60000 AND bucket_start < NEW.minute_start - 172800000;
END;
