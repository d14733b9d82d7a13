//! Reading migration files: file names, checksums, and splitting SQL into validated statements.
//!
//! Statements are split on the token stream (so `;` inside strings and comments is
//! harmless) and each statement keeps its *original* text: SQL regenerated from
//! sqlparser's AST can differ from what SQLite expects.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use sqlparser::ast::Statement;
use sqlparser::dialect::SQLiteDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::Migration;

/// Reads every `NNNN_name.sql` in `dir` (sorted by number). Errors: a .sql file whose
/// name is not `<digits>_<name>.sql` (name: lowercase letters, digits, `_`), two files
/// with the same number, any parse error. Files that are not .sql are ignored (e.g. README.md).
pub fn load_dir(dir: &Path) -> Result<Vec<Migration>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading migrations directory {}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading migrations directory {}", dir.display()))?
            .path();
        // Case-insensitive, so `0002_x.SQL` fails the name check instead of being skipped silently.
        let is_sql = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("sql"));
        if is_sql && path.is_file() {
            paths.push(path);
        }
    }
    // Sorted by name so that errors (first bad file, duplicate pairs) are deterministic.
    paths.sort();

    let mut by_version: BTreeMap<u32, Migration> = BTreeMap::new();
    for path in paths {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("{} is not a valid migration file name", path.display()))?;
        let sql = std::fs::read_to_string(&path)
            .with_context(|| format!("reading migration {}", path.display()))?;
        let migration = parse_migration(file_name, &sql)?;
        if let Some(other) = by_version.get(&migration.version) {
            bail!(
                "{} and {} both have number {}; every migration needs its own number",
                other.file_name,
                migration.file_name,
                migration.version
            );
        }
        by_version.insert(migration.version, migration);
    }
    Ok(by_version.into_values().collect())
}

/// Validates and splits one file. A bad file fails with an error naming the file, the
/// statement number (1-based), its line, and the first line of the offending statement
/// text, plus the sqlparser message.
///
/// `CREATE TRIGGER ... BEGIN ... END` is supported: `;` inside the trigger body does not
/// end the statement (a `CASE ... END` inside the body is accounted for).
pub fn parse_migration(file_name: &str, sql: &str) -> Result<Migration> {
    let (version, name) = parse_file_name(file_name)?;
    let statements = split_statements(file_name, sql)?;
    if statements.is_empty() {
        bail!("{file_name}: contains no SQL statements");
    }
    Ok(Migration {
        version,
        name,
        file_name: file_name.to_owned(),
        statements,
        checksum: checksum(sql),
    })
}

/// `<digits>_<name>.sql` -> (number, name).
fn parse_file_name(file_name: &str) -> Result<(u32, String)> {
    let invalid = || {
        anyhow!(
            "{file_name:?} is not a valid migration file name: expected `<digits>_<name>.sql` \
             with a name of lowercase letters, digits and `_`, e.g. `0001_init.sql`"
        )
    };
    let stem = file_name.strip_suffix(".sql").ok_or_else(invalid)?;
    let (digits, name) = stem.split_once('_').ok_or_else(invalid)?;
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || !name_ok {
        return Err(invalid());
    }
    let version = digits
        .parse()
        .map_err(|_| anyhow!("{file_name:?}: migration number {digits} is too large"))?;
    Ok((version, name.to_owned()))
}

/// Lowercase hex SHA-256 of the exact file contents.
fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn split_statements(file_name: &str, sql: &str) -> Result<Vec<String>> {
    let dialect = SQLiteDialect {};
    let lines = LineIndex::new(sql);
    // Error context: "<file>: statement N (line L) `first line`: ..."
    let fail = |number: usize, at: Location, message: String| {
        let start = lines.offset(at);
        let first_line = sql[start..].lines().next().unwrap_or("").trim();
        anyhow!(
            "{file_name}: statement {number} (line {}) `{first_line}`: {message}",
            at.line
        )
    };

    // On a tokenizer error the buffer keeps the tokens before it, which tells us which
    // statement the error is in.
    let mut tokens = Vec::new();
    let tokenize_error = Tokenizer::new(&dialect, sql)
        .tokenize_with_location_into_buf(&mut tokens)
        .err();
    let chunks = split_tokens(&tokens);
    if let Some(error) = tokenize_error {
        let (number, at) = match chunks.last() {
            Some(open) if !open.terminated => (chunks.len(), open.tokens[0].span.start),
            _ => (chunks.len() + 1, error.location),
        };
        return Err(fail(number, at, error.to_string()));
    }

    let mut statements = Vec::with_capacity(chunks.len());
    for (index, chunk) in chunks.iter().enumerate() {
        let number = index + 1;
        let start = chunk.tokens[0].span.start;
        // Parsing the chunk's own tokens (rather than its text) keeps sqlparser's
        // "at Line: L, Column: C" relative to the file, not to the statement.
        let parsed = Parser::new(&dialect)
            .with_tokens_with_locations(chunk.tokens.to_vec())
            .parse_statements()
            .map_err(|e| fail(number, start, e.to_string()))?;
        let [statement] = parsed.as_slice() else {
            return Err(fail(
                number,
                start,
                format!("expected one statement, sqlparser found {}", parsed.len()),
            ));
        };
        if let Some(why) = forbidden(statement) {
            return Err(fail(number, start, why.to_owned()));
        }
        let end = chunk.tokens[chunk.tokens.len() - 1].span.end;
        statements.push(sql[lines.offset(start)..lines.offset(end)].to_owned());
    }
    Ok(statements)
}

/// Statements that cannot work inside the one transaction the runner wraps each file in.
fn forbidden(statement: &Statement) -> Option<&'static str> {
    const TX: &str = "transaction control (BEGIN/COMMIT/END/ROLLBACK/SAVEPOINT/RELEASE) is not \
                      allowed in a migration: the runner wraps each file in its own transaction";
    match statement {
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => Some(TX),
        Statement::Vacuum(_) => Some("VACUUM cannot run inside a transaction"),
        _ => None,
    }
}

/// One statement's tokens, from its first to its last significant token (comments and
/// whitespace inside it are kept; around it and the closing `;` are not).
struct Chunk<'t> {
    tokens: &'t [TokenWithSpan],
    /// False for a last statement without a closing `;`.
    terminated: bool,
}

/// Splits at top-level `;`. Statements with only comments/whitespace are dropped.
fn split_tokens(tokens: &[TokenWithSpan]) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut first: Option<usize> = None;
    let mut last = 0;
    let mut trigger = TriggerTracker::default();
    for (i, token) in tokens.iter().enumerate() {
        match token.token {
            Token::Whitespace(_) | Token::EOF => continue,
            Token::SemiColon if !trigger.in_body() => {
                if let Some(first) = first.take() {
                    chunks.push(Chunk {
                        tokens: &tokens[first..=last],
                        terminated: true,
                    });
                }
                trigger = TriggerTracker::default();
                continue;
            }
            _ => {}
        }
        first.get_or_insert(i);
        last = i;
        trigger.observe(&token.token);
    }
    if let Some(first) = first {
        chunks.push(Chunk {
            tokens: &tokens[first..=last],
            terminated: false,
        });
    }
    chunks
}

/// Knows whether the current statement is inside a `CREATE [TEMP] TRIGGER ... BEGIN ... END`
/// body, where `;` ends the body's statements rather than the trigger.
#[derive(Default)]
struct TriggerTracker {
    /// Keywords of the first three significant tokens.
    leading: Vec<Keyword>,
    is_trigger: bool,
    /// `Some(open CASE count)` while inside the body: `CASE ... END` also ends in `END`.
    body: Option<usize>,
}

impl TriggerTracker {
    fn in_body(&self) -> bool {
        self.body.is_some()
    }

    fn observe(&mut self, token: &Token) {
        // Quoted identifiers get `NoKeyword`, so a column named "end" is not mistaken.
        let keyword = match token {
            Token::Word(word) => word.keyword,
            _ => Keyword::NoKeyword,
        };
        if self.leading.len() < 3 {
            self.leading.push(keyword);
            self.is_trigger |= matches!(
                self.leading.as_slice(),
                [Keyword::CREATE, Keyword::TRIGGER]
                    | [
                        Keyword::CREATE,
                        Keyword::TEMP | Keyword::TEMPORARY,
                        Keyword::TRIGGER
                    ]
            );
        }
        if !self.is_trigger {
            return;
        }
        self.body = match (self.body, keyword) {
            (None, Keyword::BEGIN) => Some(0),
            (Some(cases), Keyword::CASE) => Some(cases + 1),
            (Some(0), Keyword::END) => None,
            (Some(cases), Keyword::END) => Some(cases - 1),
            (body, _) => body,
        };
    }
}

/// Maps sqlparser's (line, column) locations, counted in chars, to byte offsets.
struct LineIndex<'s> {
    sql: &'s str,
    line_starts: Vec<usize>,
}

impl<'s> LineIndex<'s> {
    fn new(sql: &'s str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { sql, line_starts }
    }

    fn offset(&self, at: Location) -> usize {
        let Some(&line_start) = self.line_starts.get((at.line as usize).saturating_sub(1)) else {
            return self.sql.len();
        };
        self.sql[line_start..]
            .char_indices()
            .nth((at.column as usize).saturating_sub(1))
            .map_or(self.sql.len(), |(i, _)| line_start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(sql: &str) -> Vec<String> {
        parse_migration("0001_test.sql", sql).unwrap().statements
    }

    fn error(sql: &str) -> String {
        format!("{:#}", parse_migration("0007_bad.sql", sql).unwrap_err())
    }

    #[test]
    fn keeps_original_sqlite_text() {
        let sql = "-- header comment; with a semicolon\n\
            CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL) STRICT;\n\
            /* block; comment */\n\
            CREATE TABLE b (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID ;\n\
            ;;\n\
            INSERT INTO a (v) VALUES ('x; -- not a comment'), ('it''s'); -- trailing\n\
            CREATE TABLE c (\n  id INTEGER PRIMARY KEY, -- inner comment\n  n INTEGER\n) STRICT, WITHOUT ROWID\n";
        assert_eq!(
            statements(sql),
            [
                "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL) STRICT",
                "CREATE TABLE b (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID",
                "INSERT INTO a (v) VALUES ('x; -- not a comment'), ('it''s')",
                "CREATE TABLE c (\n  id INTEGER PRIMARY KEY, -- inner comment\n  n INTEGER\n) STRICT, WITHOUT ROWID",
            ]
        );
    }

    #[test]
    fn non_ascii_text_is_sliced_on_char_boundaries() {
        assert_eq!(
            statements("INSERT INTO t VALUES ('héllo ✓');\nSELECT 'ü';"),
            ["INSERT INTO t VALUES ('héllo ✓')", "SELECT 'ü'"]
        );
    }

    #[test]
    fn trigger_body_semicolons_do_not_split() {
        let trigger = "CREATE TRIGGER t_audit AFTER UPDATE ON t BEGIN\n  \
            UPDATE t SET n = CASE WHEN new.n > 0 THEN new.n ELSE 0 END WHERE id = new.id;\n  \
            INSERT INTO log (msg) VALUES ('updated;');\nEND";
        let sql =
            format!("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);\n{trigger};\nSELECT 1;");
        assert_eq!(
            statements(&sql),
            [
                "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)",
                trigger,
                "SELECT 1"
            ]
        );
    }

    #[test]
    fn bad_statement_names_file_statement_line_and_text() {
        let err = error(
            "CREATE TABLE ok (id INTEGER);\n\n-- why\nCREATE TABLE oops (\n  id INTEGER,,\n);\n",
        );
        assert!(
            err.starts_with("0007_bad.sql: statement 2 (line 4) `CREATE TABLE oops (`: "),
            "{err}"
        );
        assert!(err.contains("sql parser error"), "{err}");
        assert!(
            err.contains("Line: 5"),
            "sqlparser position is file-relative: {err}"
        );
    }

    #[test]
    fn tokenizer_error_names_statement() {
        let err = error("SELECT 1;\nSELECT 'unterminated;\n");
        assert!(
            err.starts_with("0007_bad.sql: statement 2 (line 2) `SELECT 'unterminated;`"),
            "{err}"
        );
    }

    #[test]
    fn transaction_control_is_rejected() {
        for tx in [
            "BEGIN",
            "BEGIN IMMEDIATE",
            "COMMIT",
            "END",
            "ROLLBACK",
            "SAVEPOINT s",
            "RELEASE s",
        ] {
            let err = error(&format!("CREATE TABLE a (x);\n{tx};\n"));
            assert!(err.contains("statement 2 (line 2)"), "{tx}: {err}");
            assert!(err.contains("transaction control"), "{tx}: {err}");
        }
        assert!(error("VACUUM;").contains("VACUUM cannot run inside a transaction"));
    }

    #[test]
    fn empty_or_comment_only_file_is_an_error() {
        for sql in ["", "  \n", "-- nothing here\n/* still nothing */ ;;"] {
            assert!(error(sql).contains("contains no SQL statements"), "{sql:?}");
        }
    }

    #[test]
    fn file_names() {
        let m = parse_migration("0042_add_prompts_v2.sql", "SELECT 1").unwrap();
        assert_eq!((m.version, m.name.as_str()), (42, "add_prompts_v2"));
        assert_eq!(m.file_name, "0042_add_prompts_v2.sql");
        for bad in [
            "init.sql",
            "0001.sql",
            "0001_.sql",
            "_init.sql",
            "0001-init.sql",
            "0001_Init.sql",
            "0001_in it.sql",
            "0001_init.SQL",
            "0001_init.sql.bak",
            "x001_init.sql",
            "99999999999_init.sql",
        ] {
            assert!(parse_migration(bad, "SELECT 1").is_err(), "{bad}");
        }
    }

    #[test]
    fn checksum_is_sha256_hex_of_contents() {
        let a = parse_migration("0001_a.sql", "SELECT 1;").unwrap();
        let b = parse_migration("0001_a.sql", "SELECT 1; ").unwrap();
        assert_eq!(a.checksum.len(), 64);
        assert!(a.checksum.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.checksum, b.checksum);
        assert_eq!(a.checksum, checksum("SELECT 1;"));
    }

    /// A fresh, empty directory under the system temp dir.
    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "prompthelm-migrations-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn load_dir_sorts_by_number_and_ignores_other_files() {
        let dir = temp_dir("sorted");
        std::fs::write(dir.join("10_later.sql"), "SELECT 10;").unwrap();
        std::fs::write(dir.join("0002_second.sql"), "SELECT 2;").unwrap();
        std::fs::write(dir.join("0001_first.sql"), "SELECT 1;").unwrap();
        std::fs::write(dir.join("README.md"), "not sql").unwrap();
        std::fs::write(dir.join("0003_x.sql~"), "backup").unwrap();
        let versions: Vec<u32> = load_dir(&dir).unwrap().iter().map(|m| m.version).collect();
        assert_eq!(versions, [1, 2, 10]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn load_dir_rejects_duplicates_and_bad_names() {
        let dir = temp_dir("dup");
        std::fs::write(dir.join("0001_a.sql"), "SELECT 1;").unwrap();
        std::fs::write(dir.join("1_b.sql"), "SELECT 1;").unwrap();
        let err = format!("{:#}", load_dir(&dir).unwrap_err());
        assert!(
            err.contains("0001_a.sql and 1_b.sql both have number 1"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();

        let dir = temp_dir("badname");
        std::fs::write(dir.join("0001_a.sql"), "SELECT 1;").unwrap();
        std::fs::write(dir.join("0002_Upper.SQL"), "SELECT 1;").unwrap();
        let err = format!("{:#}", load_dir(&dir).unwrap_err());
        assert!(
            err.contains("\"0002_Upper.SQL\" is not a valid migration file name"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();

        assert!(load_dir(Path::new("/nonexistent/prompthelm/migrations")).is_err());
    }

    #[test]
    fn repository_migrations_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let migrations = load_dir(&dir).unwrap();
        assert_eq!(migrations[0].file_name, "0001_init.sql");
        assert_eq!(migrations[0].version, 1);
    }
}
