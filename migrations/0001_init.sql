-- First schema: a key/value table for facts about the database itself.
-- Later migrations (new numbered files) add the prompts and versions tables.
CREATE TABLE app_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO app_meta (key, value) VALUES ('schema_owner', 'prompthelm');
