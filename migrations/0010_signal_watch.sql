-- The regression watch compares product signals where lower is better
-- (issue 17 §3): it reads one signal's values of one prompt inside a time
-- window (`at`), before and after a promote. The rollups keep only sums,
-- and the watch's Welch test needs each value's spread, so it reads the
-- values themselves through this index.
CREATE INDEX prompt_signals_by_name_at ON prompt_signals (organization_id, prompt_id, name, at);
