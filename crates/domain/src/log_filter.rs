//! The filter language of `GET /api/v1/execution-logs?q=...`.
//!
//! A filter is one boolean expression over allow-listed fields of an
//! execution log, in a small subset of SQL:
//!
//! ```text
//! status = 'error' AND latencyMs > 2000
//! errorCode IN ('PROVIDER_TIMEOUT', 'UPSTREAM_FAILURE')
//! cost >= 0.01 OR model LIKE 'gpt-%'
//! NOT (environment = 'production' AND stream = true) AND userAgent IS NOT NULL
//! ```
//!
//! [`parse_filter`] parses it with `sqlparser` and compiles it to a
//! parameterized SQL fragment ([`Filter`]): the fragment holds only
//! allow-listed column names, operators, keywords, parentheses, commas and
//! `?` placeholders, and every value written in the filter travels as a
//! bound parameter. No text from the filter ever reaches SQL. The caller appends
//! `AND (<sql>)` to its own `WHERE` (which already restricts the rows to the
//! caller's organization) and binds [`Filter::params`] in order.
//!
//! # Fields
//!
//! | field | column | type |
//! |-------|--------|------|
//! | `status` | `status` | text, `'success'` or `'error'` |
//! | `errorCode` | `error_code` | text |
//! | `model` | `model` | text |
//! | `provider` | `provider` | text |
//! | `environment` | `environment` | text, `'production'` or `'development'` |
//! | `promptId` | `prompt_id` | text |
//! | `versionId` | `version_id` | text |
//! | `version` | `version` | text |
//! | `requestId` | `request_id` | text |
//! | `userAgent` | `user_agent` | text |
//! | `latencyMs` | `latency_ms` | number |
//! | `providerLatencyMs` | `provider_latency_ms` | number |
//! | `inputTokens` | `input_tokens` | number |
//! | `outputTokens` | `output_tokens` | number |
//! | `cachedInputTokens` | `cached_input_tokens` | number |
//! | `cost` | `cost_usd` | number (USD) |
//! | `httpStatus` | `http_status` | number |
//! | `stream` | `stream` | boolean, `true` or `false` |
//! | `canary` | `canary` | boolean: served by a running canary's candidate |
//!
//! A field is named by its API name (camelCase) or by its column name
//! (`latency_ms`), in any letter case, bare or in double quotes
//! (`"latencyMs"`).
//!
//! # Feedback
//!
//! | field | type |
//! |-------|------|
//! | `feedback.score` | number |
//! | `feedback.name` | text (`thumbs`, ...) |
//!
//! A condition on a feedback field matches a call that has **a** feedback
//! row (any source) satisfying it: `feedback.score < 0` is "some score of
//! the call is negative", `NOT feedback.score < 0` "no score is negative".
//! Feedback conditions joined by `AND` directly (`feedback.name = 'csat'
//! AND feedback.score <= 2`) must hold for the same feedback row. They
//! compile to `EXISTS (SELECT 1 FROM execution_feedback WHERE <the same
//! organization and execution> AND ...)`, a lookup on the feedback
//! table's unique index per call. `IS [NOT] NULL` is refused on them (a
//! call without feedback is `NOT feedback.name LIKE '%'`).
//!
//! # Grammar
//!
//! - Conditions combine with `AND`, `OR`, `NOT` and parentheses (`AND` binds
//!   tighter than `OR`).
//! - A comparison puts a field on one side and a value on the other:
//!   `=`, `!=` (or `<>`), `<`, `<=`, `>`, `>=`. `2000 < latencyMs` is the
//!   same as `latencyMs > 2000`. The booleans (`stream`, `canary`) take
//!   only `=`, `!=`/`<>` and `IN`.
//! - `field [NOT] IN (value, ...)`: 1 to 100 values.
//! - `field [NOT] BETWEEN low AND high` (not on the booleans).
//! - `field [NOT] LIKE 'pattern' [ESCAPE 'c']`, on text fields only: `%` is
//!   any run of characters, `_` any one character; SQLite's `LIKE` ignores
//!   ASCII case.
//! - `field IS NULL`, `field IS NOT NULL`.
//! - Values are single-quoted strings (`'it''s'` doubles a quote), numbers
//!   (`2000`, `-1`, `0.01`, `1e3`) and `true`/`false`. A value must match its
//!   field's type: text for text fields, a number for number fields,
//!   `true`/`false` for the booleans. `status` and `environment` also accept only
//!   their listed values (outside of `LIKE` patterns).
//!
//! # Refused
//!
//! Everything else, with a message naming the problem and, where known, its
//! line and column: unknown fields, qualified names other than the feedback
//! fields, functions, subqueries, `EXISTS`, `CASE`,
//! casts, arithmetic, comparing a field with a field (or a value with a
//! value), string concatenation, comments (`--`, `/* */`; the same characters
//! inside a quoted string are just text), `;` and several statements,
//! placeholders (`?`, `?1`, `$1`, `:name`, `@name`), `NULL` outside
//! `IS [NOT] NULL`, identifiers quoted other than with double quotes, an empty
//! filter, a filter longer than [`MAX_FILTER_CHARS`] characters, nesting
//! deeper than [`MAX_FILTER_DEPTH`] levels, and `IN` lists longer than
//! [`MAX_IN_LIST`] values.
//!
//! Nesting counts parentheses, `NOT`, and each switch between `AND` and `OR`
//! (a chain `a AND b AND c` is one level), plus one for the comparison
//! itself. sqlparser's own recursion limit is also set, so hostile nesting
//! is an error, never a stack overflow.

use std::fmt;

use sqlparser::ast::{BinaryOperator, Expr, Ident, InTarget, Spanned, UnaryOperator, Value};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Whitespace};

/// The longest filter accepted, in characters.
pub const MAX_FILTER_CHARS: usize = 2000;
/// The deepest nesting accepted (see the module docs for what counts).
pub const MAX_FILTER_DEPTH: usize = 32;
/// The most values an `IN (...)` list may hold.
pub const MAX_IN_LIST: usize = 100;

/// sqlparser's recursion budget. A filter within [`MAX_FILTER_DEPTH`] needs
/// at most about two units per level (every nesting shape is tested at the
/// limit), so each one parses. Deeper input stops early instead of recursing
/// toward the end of the stack: a release wasm32 build of sqlparser needs
/// over 1,000 levels to exhaust even a 1 MiB stack (measured under V8), and
/// the length limit caps input at 2,000 characters anyway.
const PARSER_RECURSION_LIMIT: usize = 3 * MAX_FILTER_DEPTH;

/// A compiled filter: a SQL boolean expression over `execution_logs`
/// columns, and the values for its `?` placeholders, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub sql: String,
    pub params: Vec<FilterValue>,
}

/// A bound parameter of a [`Filter`]. Booleans are `Integer(1)`/`Integer(0)`,
/// as SQLite stores them.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Text(String),
    Integer(i64),
    Real(f64),
}

/// Why a filter was refused. The message names the problem (and its
/// position when known) and is meant for the API's 400 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub message: String,
}

impl FilterError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    fn at(message: impl Into<String>, location: Location) -> Self {
        let mut message = message.into();
        // sqlparser uses line 0 for "unknown".
        if location.line == 1 {
            message.push_str(&format!(" (at column {})", location.column));
        } else if location.line > 1 {
            message.push_str(&format!(
                " (at line {}, column {})",
                location.line, location.column
            ));
        }
        Self { message }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FilterError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Boolean,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "a number",
            Kind::Boolean => "true or false",
        }
    }
}

#[derive(Debug)]
struct Field {
    /// The API name (camelCase).
    name: &'static str,
    column: &'static str,
    kind: Kind,
    /// For enumerated text fields, the values the column may hold.
    values: &'static [&'static str],
}

const fn field(name: &'static str, column: &'static str, kind: Kind) -> Field {
    Field {
        name,
        column,
        kind,
        values: &[],
    }
}

const FIELDS: &[Field] = &[
    Field {
        values: &["success", "error"],
        ..field("status", "status", Kind::Text)
    },
    field("errorCode", "error_code", Kind::Text),
    field("model", "model", Kind::Text),
    field("provider", "provider", Kind::Text),
    Field {
        values: &["production", "development"],
        ..field("environment", "environment", Kind::Text)
    },
    field("promptId", "prompt_id", Kind::Text),
    field("versionId", "version_id", Kind::Text),
    field("version", "version", Kind::Text),
    field("requestId", "request_id", Kind::Text),
    field("userAgent", "user_agent", Kind::Text),
    field("latencyMs", "latency_ms", Kind::Number),
    field("providerLatencyMs", "provider_latency_ms", Kind::Number),
    field("inputTokens", "input_tokens", Kind::Number),
    field("outputTokens", "output_tokens", Kind::Number),
    field("cachedInputTokens", "cached_input_tokens", Kind::Number),
    field("cost", "cost_usd", Kind::Number),
    field("httpStatus", "http_status", Kind::Number),
    field("stream", "stream", Kind::Boolean),
    field("canary", "canary", Kind::Boolean),
];

fn lookup(name: &str) -> Option<&'static Field> {
    FIELDS
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name) || f.column.eq_ignore_ascii_case(name))
}

/// The fields of a call's feedback rows (`feedback.<name>`). Their columns
/// are qualified: they only ever appear inside the feedback `EXISTS`.
const FEEDBACK_FIELDS: &[Field] = &[
    field("feedback.score", "execution_feedback.score", Kind::Number),
    field("feedback.name", "execution_feedback.name", Kind::Text),
];

/// The table the feedback columns are qualified with.
const FEEDBACK_TABLE: &str = "execution_feedback";

fn is_feedback(column: &str) -> bool {
    column
        .strip_prefix(FEEDBACK_TABLE)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// What opens the `EXISTS` of feedback conditions: a feedback row of the
/// same organization and execution as the `execution_logs` row.
const FEEDBACK_EXISTS: &str = "EXISTS (SELECT 1 FROM execution_feedback WHERE \
     execution_feedback.organization_id = execution_logs.organization_id AND \
     execution_feedback.execution_id = execution_logs.id AND ";

/// Parses a filter expression and compiles it to a parameterized SQL
/// fragment over `execution_logs`. See the module docs for the language.
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    compile(input, MAX_FILTER_CHARS)
}

fn compile(input: &str, max_chars: usize) -> Result<Filter, FilterError> {
    if input.chars().nth(max_chars).is_some() {
        return Err(FilterError::new(format!(
            "the filter is longer than {max_chars} characters"
        )));
    }
    if input.trim().is_empty() {
        return Err(FilterError::new("the filter is empty"));
    }
    let dialect = SQLiteDialect {};
    let tokens = Tokenizer::new(&dialect, input)
        .tokenize_with_location()
        .map_err(|e| FilterError::new(format!("cannot read the filter: {e}")))?;
    // The parser skips comments, so look for them (and for what must never
    // reach the parser) in the tokens, where quoted strings are already apart.
    for token in &tokens {
        let problem = match &token.token {
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
            ) => "comments are not allowed".to_string(),
            Token::SemiColon => {
                "`;` is not allowed: a filter is one expression, not statements".to_string()
            }
            Token::Placeholder(p) => format!(
                "placeholders ({}) are not allowed; write the value itself",
                snippet(p)
            ),
            _ => continue,
        };
        return Err(FilterError::at(problem, token.span.start));
    }
    check_nesting(&tokens)?;

    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(PARSER_RECURSION_LIMIT)
        .with_tokens_with_locations(tokens);
    let expr = parser.parse_expr().map_err(|e| match e {
        ParserError::RecursionLimitExceeded => too_deep(),
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => {
            FilterError::new(format!("invalid filter: {m}"))
        }
    })?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(FilterError::at(
            format!(
                "unexpected {} after the end of the expression; a filter is one expression",
                snippet(&next.token.to_string())
            ),
            next.span.start,
        ));
    }

    let condition = condition(&expr, 1)?;
    let mut out = Filter {
        sql: String::new(),
        params: Vec::new(),
    };
    emit(&condition, 0, &mut out);
    Ok(out)
}

/// Refuses input nested deeper than [`MAX_FILTER_DEPTH`] before sqlparser
/// sees it: sqlparser does not always report its recursion limit (some
/// paths swallow the error and parse the rest differently), so this check
/// gives hostile nesting its proper message.
///
/// It counts, at each token, the open parentheses (but not an `IN` list's)
/// and the prefix `NOT`s still in force (a `NOT` lasts until the next `AND`,
/// `OR`, `,` or `)` at its level), plus one for the comparison. For any
/// filter the language accepts, that is at most the depth
/// [`condition`] measures, so it never refuses a filter that would pass.
fn check_nesting(tokens: &[TokenWithSpan]) -> Result<(), FilterError> {
    // One frame per open parenthesis: whether it counts as a level, and the
    // prefix `NOT`s in force inside it.
    let mut frames: Vec<(bool, usize)> = vec![(false, 0)];
    let mut depth = 1;
    // True at the start and after `(`, `AND`, `OR` and a prefix `NOT`: where
    // a `NOT` is a prefix `NOT` (not `IS NOT`, `NOT IN`, `NOT LIKE`, ...).
    let mut condition_starts = true;
    let mut previous_is_in = false;
    for token in tokens {
        let keyword = match &token.token {
            Token::Whitespace(_) => continue,
            Token::Word(word) if word.quote_style.is_none() => word.keyword,
            _ => Keyword::NoKeyword,
        };
        let mut starts = false;
        match &token.token {
            Token::LParen => {
                let counts = !previous_is_in;
                depth += usize::from(counts);
                frames.push((counts, 0));
                starts = true;
            }
            Token::RParen => {
                if frames.len() > 1
                    && let Some((counts, nots)) = frames.pop()
                {
                    depth -= usize::from(counts) + nots;
                }
            }
            Token::Comma => {
                if let Some((_, nots)) = frames.last_mut() {
                    depth -= *nots;
                    *nots = 0;
                }
            }
            Token::Word(_) if matches!(keyword, Keyword::AND | Keyword::OR | Keyword::XOR) => {
                if let Some((_, nots)) = frames.last_mut() {
                    depth -= *nots;
                    *nots = 0;
                }
                starts = true;
            }
            Token::Word(_) if keyword == Keyword::NOT && condition_starts => {
                if let Some((_, nots)) = frames.last_mut() {
                    *nots += 1;
                    depth += 1;
                }
                starts = true;
            }
            _ => {}
        }
        if depth > MAX_FILTER_DEPTH {
            return Err(FilterError::at(too_deep().message, token.span.start));
        }
        condition_starts = starts;
        previous_is_in = keyword == Keyword::IN;
    }
    Ok(())
}

fn too_deep() -> FilterError {
    FilterError::new(format!(
        "the filter nests deeper than {MAX_FILTER_DEPTH} levels"
    ))
}

/// `text` in backticks, shortened: error messages may quote the input, but
/// not all of it.
fn snippet(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("`{}…`", &text[..cut]),
        None => format!("`{text}`"),
    }
}

/// Where `expr` starts, or close to it. Walks down the left edge without
/// recursion: `Spanned::span` recurses through the whole tree, and an
/// operator chain (`1 + 1 + ... + 1`) is as deep as it is long.
fn position(expr: &Expr) -> Location {
    let mut expr = expr;
    loop {
        expr = match expr {
            Expr::BinaryOp { left, .. } => left,
            Expr::UnaryOp { expr, .. } | Expr::Nested(expr) => expr,
            Expr::In { expr, .. }
            | Expr::Between { expr, .. }
            | Expr::Like { expr, .. }
            | Expr::ILike { expr, .. }
            | Expr::SimilarTo { expr, .. }
            | Expr::RLike { expr, .. }
            | Expr::IsNull(expr)
            | Expr::IsNotNull(expr) => expr,
            Expr::Identifier(ident) => return ident.span.start,
            Expr::CompoundIdentifier(parts) => {
                return parts
                    .first()
                    .map_or(Location { line: 0, column: 0 }, |part| part.span.start);
            }
            Expr::Value(value) => return value.span.start,
            Expr::Function(function) => {
                return function
                    .name
                    .0
                    .first()
                    .map_or(Location { line: 0, column: 0 }, |part| part.span().start);
            }
            _ => return Location { line: 0, column: 0 },
        };
    }
}

/// The compiled form. Columns and operators are `'static` strings from this
/// module; values only ever become parameters.
enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Compare {
        column: &'static str,
        op: &'static str,
        value: FilterValue,
    },
    In {
        column: &'static str,
        negated: bool,
        values: Vec<FilterValue>,
    },
    Between {
        column: &'static str,
        negated: bool,
        low: FilterValue,
        high: FilterValue,
    },
    Like {
        column: &'static str,
        negated: bool,
        pattern: String,
        escape: Option<String>,
    },
    IsNull {
        column: &'static str,
        negated: bool,
    },
}

/// A value as written, before it is checked against its field.
enum Literal {
    Text(String),
    Number(FilterValue),
    Boolean(bool),
}

impl Literal {
    fn kind(&self) -> Kind {
        match self {
            Literal::Text(_) => Kind::Text,
            Literal::Number(_) => Kind::Number,
            Literal::Boolean(_) => Kind::Boolean,
        }
    }
}

/// One side of a comparison.
enum Operand {
    Field(&'static Field),
    Literal(Literal, Location),
}

fn condition(expr: &Expr, depth: usize) -> Result<Cond, FilterError> {
    if depth > MAX_FILTER_DEPTH {
        return Err(too_deep());
    }
    match expr {
        Expr::Nested(inner) => condition(inner, depth + 1),
        Expr::BinaryOp {
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            ..
        } => {
            // A chain of the same operator is one level, flattened without
            // recursion (sqlparser builds long chains iteratively).
            let mut operands = Vec::new();
            let mut pending = vec![expr];
            while let Some(next) = pending.pop() {
                match next {
                    Expr::BinaryOp {
                        left,
                        op: next_op,
                        right,
                    } if next_op == op => {
                        pending.push(right);
                        pending.push(left);
                    }
                    other => operands.push(condition(other, depth + 1)?),
                }
            }
            Ok(if *op == BinaryOperator::And {
                Cond::And(operands)
            } else {
                Cond::Or(operands)
            })
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: inner,
        } => Ok(Cond::Not(Box::new(condition(inner, depth + 1)?))),
        Expr::BinaryOp { left, op, right } if comparison(op).is_some() => compare(left, op, right),
        Expr::In {
            expr: target_field,
            target: InTarget::List(list),
            negated,
            global: false,
        } => {
            let field = left_field(target_field, "IN")?;
            if list.is_empty() {
                return Err(FilterError::at(
                    "an IN list needs at least one value",
                    position(expr),
                ));
            }
            if list.len() > MAX_IN_LIST {
                return Err(FilterError::at(
                    format!(
                        "an IN list holds at most {MAX_IN_LIST} values; this one has {}",
                        list.len()
                    ),
                    position(expr),
                ));
            }
            let values = list
                .iter()
                .map(|item| value_for(field, item))
                .collect::<Result<_, _>>()?;
            Ok(Cond::In {
                column: field.column,
                negated: *negated,
                values,
            })
        }
        Expr::Between {
            expr: target_field,
            negated,
            low,
            high,
        } => {
            let field = left_field(target_field, "BETWEEN")?;
            if field.kind == Kind::Boolean {
                return Err(FilterError::at(
                    format!(
                        "`{}` is true or false; BETWEEN needs a text or number field",
                        field.name
                    ),
                    position(expr),
                ));
            }
            Ok(Cond::Between {
                column: field.column,
                negated: *negated,
                low: value_for(field, low)?,
                high: value_for(field, high)?,
            })
        }
        Expr::Like {
            negated,
            any,
            expr: target_field,
            pattern,
            escape_char,
        } => {
            if *any {
                return Err(FilterError::at("LIKE ANY is not allowed", position(expr)));
            }
            let field = left_field(target_field, "LIKE")?;
            if field.kind != Kind::Text {
                return Err(FilterError::at(
                    format!(
                        "LIKE works on text fields only, and `{}` is {}",
                        field.name,
                        field.kind.describe()
                    ),
                    position(expr),
                ));
            }
            let pattern = text_literal(pattern, "a LIKE pattern")?;
            let escape = match escape_char {
                None => None,
                Some(escape) => {
                    let text = text_literal(escape, "an ESCAPE character")?;
                    if text.chars().count() != 1 {
                        return Err(FilterError::at(
                            "ESCAPE takes exactly one character",
                            position(escape),
                        ));
                    }
                    Some(text)
                }
            };
            Ok(Cond::Like {
                column: field.column,
                negated: *negated,
                pattern,
                escape,
            })
        }
        Expr::IsNull(target_field) | Expr::IsNotNull(target_field) => {
            let negated = matches!(expr, Expr::IsNotNull(_));
            let what = if negated { "IS NOT NULL" } else { "IS NULL" };
            let field = left_field(target_field, what)?;
            if is_feedback(field.column) {
                return Err(FilterError::at(
                    format!(
                        "`{}` is never null, so {what} is not allowed on it; a call without \
                         feedback is `NOT feedback.name LIKE '%'`",
                        field.name
                    ),
                    position(expr),
                ));
            }
            Ok(Cond::IsNull {
                column: field.column,
                negated,
            })
        }
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            let field = left_field(expr, "a condition")?;
            let example = match field.kind {
                Kind::Boolean => format!("`{} = true`", field.name),
                Kind::Number => format!("`{} > 0`", field.name),
                Kind::Text => format!("`{} = '…'`", field.name),
            };
            Err(FilterError::at(
                format!(
                    "`{}` alone is not a condition; compare it with a value, e.g. {example}",
                    field.name
                ),
                position(expr),
            ))
        }
        Expr::Value(v) if !matches!(v.value, Value::Null | Value::Placeholder(_)) => {
            Err(FilterError::at(
                format!(
                    "{} is a value, not a condition; compare a field with it",
                    snippet(&v.value.to_string())
                ),
                v.span.start,
            ))
        }
        other => Err(unsupported(other)),
    }
}

/// The SQL spelling of a comparison operator, and of its mirror image
/// (for `value op field`).
fn comparison(op: &BinaryOperator) -> Option<(&'static str, &'static str)> {
    Some(match op {
        BinaryOperator::Eq => ("=", "="),
        BinaryOperator::NotEq => ("<>", "<>"),
        BinaryOperator::Lt => ("<", ">"),
        BinaryOperator::LtEq => ("<=", ">="),
        BinaryOperator::Gt => (">", "<"),
        BinaryOperator::GtEq => (">=", "<="),
        _ => return None,
    })
}

fn compare(left: &Expr, op: &BinaryOperator, right: &Expr) -> Result<Cond, FilterError> {
    let Some((forward, mirrored)) = comparison(op) else {
        return Err(FilterError::new(format!(
            "the operator `{op}` is not allowed"
        )));
    };
    let (field, literal, at, op) = match (operand(left)?, operand(right)?) {
        (Operand::Field(field), Operand::Literal(literal, at)) => (field, literal, at, forward),
        (Operand::Literal(literal, at), Operand::Field(field)) => (field, literal, at, mirrored),
        (Operand::Field(a), Operand::Field(b)) => {
            return Err(FilterError::at(
                format!(
                    "`{}` is compared with the field `{}`; compare a field with a value",
                    a.name, b.name
                ),
                position(left),
            ));
        }
        (Operand::Literal(..), Operand::Literal(..)) => {
            return Err(FilterError::at(
                "two values are compared; one side of a comparison must be a field",
                position(left),
            ));
        }
    };
    if field.kind == Kind::Boolean && !matches!(op, "=" | "<>") {
        return Err(FilterError::at(
            format!("`{}` is true or false: use = or != only", field.name),
            position(left),
        ));
    }
    Ok(Cond::Compare {
        column: field.column,
        op,
        value: typed(field, literal, at)?,
    })
}

fn operand(expr: &Expr) -> Result<Operand, FilterError> {
    match expr {
        Expr::Identifier(ident) => Ok(Operand::Field(field_named(ident)?)),
        Expr::CompoundIdentifier(parts) => Ok(Operand::Field(feedback_field(parts)?)),
        _ => Ok(Operand::Literal(literal(expr)?, position(expr))),
    }
}

/// `feedback.score` or `feedback.name` (each part bare or double-quoted,
/// any letter case); any other qualified name is refused.
fn feedback_field(parts: &[Ident]) -> Result<&'static Field, FilterError> {
    let at = parts
        .first()
        .map_or(Location { line: 0, column: 0 }, |p| p.span.start);
    if parts
        .iter()
        .all(|p| matches!(p.quote_style, None | Some('"')))
        && let [table, column] = parts
        && table.value.eq_ignore_ascii_case("feedback")
        && let Some(field) = FEEDBACK_FIELDS
            .iter()
            .find(|f| f.name["feedback.".len()..].eq_ignore_ascii_case(&column.value))
    {
        return Ok(field);
    }
    let written: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
    Err(FilterError::at(
        format!(
            "unknown field {}; the qualified fields are feedback.score and feedback.name",
            snippet(&written.join("."))
        ),
        at,
    ))
}

/// The field on the left of `IN`, `BETWEEN`, `LIKE` or `IS [NOT] NULL`.
fn left_field(expr: &Expr, what: &str) -> Result<&'static Field, FilterError> {
    match expr {
        Expr::Identifier(ident) => field_named(ident),
        Expr::CompoundIdentifier(parts) => feedback_field(parts),
        Expr::Value(_) | Expr::UnaryOp { .. } if literal(expr).is_ok() => Err(FilterError::at(
            format!("{what} needs a field on its left, not a value"),
            position(expr),
        )),
        other => Err(unsupported(other)),
    }
}

fn field_named(ident: &Ident) -> Result<&'static Field, FilterError> {
    match ident.quote_style {
        None | Some('"') => {}
        Some(_) => {
            return Err(FilterError::at(
                format!(
                    "{} is quoted with {}; quote field names with double quotes, or not at all",
                    snippet(&ident.value),
                    ident.quote_style.map(String::from).unwrap_or_default()
                ),
                ident.span.start,
            ));
        }
    }
    lookup(&ident.value).ok_or_else(|| {
        let known: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        FilterError::at(
            format!(
                "unknown field {}; the fields are {}",
                snippet(&ident.value),
                known.join(", ")
            ),
            ident.span.start,
        )
    })
}

/// A value compared with `field`, checked against its type.
fn value_for(field: &Field, expr: &Expr) -> Result<FilterValue, FilterError> {
    let other = match expr {
        Expr::Identifier(ident) => Some((field_named(ident)?, ident.span.start)),
        Expr::CompoundIdentifier(parts) => Some((feedback_field(parts)?, position(expr))),
        _ => None,
    };
    if let Some((other, at)) = other {
        return Err(FilterError::at(
            format!(
                "`{}` is compared with the field `{}`; compare a field with a value",
                field.name, other.name
            ),
            at,
        ));
    }
    typed(field, literal(expr)?, position(expr))
}

fn typed(field: &Field, literal: Literal, at: Location) -> Result<FilterValue, FilterError> {
    match (field.kind, literal) {
        (Kind::Text, Literal::Text(text)) => {
            if !field.values.is_empty() && !field.values.contains(&text.as_str()) {
                let allowed: Vec<String> = field.values.iter().map(|v| format!("'{v}'")).collect();
                return Err(FilterError::at(
                    format!(
                        "`{}` is {}, not {}",
                        field.name,
                        allowed.join(" or "),
                        snippet(&text)
                    ),
                    at,
                ));
            }
            Ok(FilterValue::Text(text))
        }
        (Kind::Number, Literal::Number(number)) => Ok(number),
        (Kind::Boolean, Literal::Boolean(b)) => Ok(FilterValue::Integer(i64::from(b))),
        (kind, literal) => Err(FilterError::at(
            format!(
                "`{}` is {}, but it is compared with {}",
                field.name,
                kind.describe(),
                match literal.kind() {
                    Kind::Text => "text",
                    Kind::Number => "a number",
                    Kind::Boolean => "a boolean",
                }
            ),
            at,
        )),
    }
}

fn text_literal(expr: &Expr, what: &str) -> Result<String, FilterError> {
    match literal(expr)? {
        Literal::Text(text) => Ok(text),
        _ => Err(FilterError::at(
            format!("{what} must be a single-quoted string"),
            position(expr),
        )),
    }
}

/// A value: a single-quoted string, a number (optionally signed) or
/// `true`/`false`.
fn literal(expr: &Expr) -> Result<Literal, FilterError> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(text) => Ok(Literal::Text(text.clone())),
            Value::Number(text, false) => number(text, false, v.span.start).map(Literal::Number),
            Value::Boolean(b) => Ok(Literal::Boolean(*b)),
            _ => Err(unsupported(expr)),
        },
        Expr::UnaryOp {
            op: op @ (UnaryOperator::Minus | UnaryOperator::Plus),
            expr: inner,
        } => match inner.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::Number(text, false) => {
                    number(text, *op == UnaryOperator::Minus, v.span.start).map(Literal::Number)
                }
                _ => Err(FilterError::at(
                    format!("a sign (`{op}`) goes before a number only"),
                    position(expr),
                )),
            },
            _ => Err(FilterError::at(
                format!("arithmetic (`{op}`) is not allowed"),
                position(expr),
            )),
        },
        other => Err(unsupported(other)),
    }
}

fn number(text: &str, negative: bool, at: Location) -> Result<FilterValue, FilterError> {
    let invalid = || FilterError::at(format!("{} is not a valid number", snippet(text)), at);
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(invalid());
    }
    let sign = if negative { "-" } else { "" };
    if text.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = format!("{sign}{text}").parse::<i64>()
    {
        return Ok(FilterValue::Integer(n));
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(FilterValue::Real(if negative { -x } else { x })),
        Ok(_) => Err(FilterError::at(
            format!("{} is out of range", snippet(text)),
            at,
        )),
        Err(_) => Err(invalid()),
    }
}

/// The refusal for anything outside the language, naming what it is.
fn unsupported(expr: &Expr) -> FilterError {
    let message = match expr {
        Expr::Identifier(ident) => match field_named(ident) {
            Err(e) => return e,
            Ok(field) => format!("`{}` cannot be used here", field.name),
        },
        Expr::CompoundIdentifier(parts) => match feedback_field(parts) {
            Err(e) => return e,
            Ok(field) => format!("`{}` cannot be used here", field.name),
        },
        Expr::Function(f) => format!(
            "functions are not allowed ({})",
            snippet(&f.name.to_string())
        ),
        Expr::Subquery(_) => "subqueries are not allowed".to_string(),
        Expr::Exists { .. } => "EXISTS (a subquery) is not allowed".to_string(),
        Expr::In {
            target: InTarget::Subquery(_) | InTarget::Table { .. } | InTarget::Unnest(_),
            ..
        } => "IN takes a list of values; subqueries and tables are not allowed".to_string(),
        Expr::In { global: true, .. } => "GLOBAL IN is not allowed".to_string(),
        Expr::Case { .. } => "CASE is not allowed".to_string(),
        Expr::Cast { .. } | Expr::TypedString(_) | Expr::Convert { .. } => {
            "casts are not allowed".to_string()
        }
        Expr::BinaryOp {
            op: BinaryOperator::StringConcat,
            ..
        } => "string concatenation (`||`) is not allowed".to_string(),
        Expr::BinaryOp {
            op:
                op @ (BinaryOperator::Plus
                | BinaryOperator::Minus
                | BinaryOperator::Multiply
                | BinaryOperator::Divide
                | BinaryOperator::Modulo
                | BinaryOperator::DuckIntegerDivide
                | BinaryOperator::MyIntegerDivide),
            ..
        } => format!("arithmetic (`{op}`) is not allowed"),
        // What follows up to `Value`: a condition where a value belongs
        // (`latencyMs > 1 = true`, `model = (status = 'error')`).
        Expr::BinaryOp { op, .. } if comparison(op).is_some() => {
            "a field or a value belongs here, not a comparison (comparisons do not chain)"
                .to_string()
        }
        Expr::BinaryOp {
            op: BinaryOperator::And | BinaryOperator::Or,
            ..
        }
        | Expr::In { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        } => "a field or a value belongs here, not a condition".to_string(),
        Expr::Nested(_) => "parentheses group conditions, not values".to_string(),
        Expr::BinaryOp { op, .. } => format!("the operator `{op}` is not allowed"),
        Expr::UnaryOp {
            op: op @ (UnaryOperator::Minus | UnaryOperator::Plus),
            ..
        } => format!("arithmetic (`{op}`) is not allowed"),
        Expr::UnaryOp { op, .. } => format!("the operator `{op}` is not allowed"),
        Expr::ILike { .. } | Expr::SimilarTo { .. } | Expr::RLike { .. } => {
            "only LIKE is allowed for pattern matching".to_string()
        }
        Expr::IsTrue(_)
        | Expr::IsNotTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotFalse(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotUnknown(_) => {
            "IS TRUE/FALSE/UNKNOWN is not allowed; compare with = true or = false".to_string()
        }
        Expr::IsDistinctFrom(..) | Expr::IsNotDistinctFrom(..) => {
            "IS [NOT] DISTINCT FROM is not allowed; use = or !=".to_string()
        }
        Expr::Collate { .. } => "COLLATE is not allowed".to_string(),
        Expr::Tuple(_) => "tuples are not allowed".to_string(),
        Expr::Interval(_) => "INTERVAL is not allowed".to_string(),
        Expr::Value(v) => match &v.value {
            Value::Null => "NULL is allowed only in `IS NULL` and `IS NOT NULL`".to_string(),
            Value::Placeholder(p) => format!(
                "placeholders ({}) are not allowed; write the value itself",
                snippet(p)
            ),
            Value::Number(..) => "this number form is not allowed".to_string(),
            Value::HexStringLiteral(_) => {
                "hexadecimal and blob literals are not allowed".to_string()
            }
            other => format!(
                "{} is not an allowed value; values are single-quoted strings, numbers, true and false",
                snippet(&other.to_string())
            ),
        },
        Expr::Extract { .. }
        | Expr::Ceil { .. }
        | Expr::Floor { .. }
        | Expr::Position { .. }
        | Expr::Substring { .. }
        | Expr::Trim { .. }
        | Expr::Overlay { .. }
        | Expr::AtTimeZone { .. } => "functions are not allowed".to_string(),
        Expr::AnyOp { .. } | Expr::AllOp { .. } => "ANY and ALL are not allowed".to_string(),
        Expr::Array(_) => "arrays are not allowed".to_string(),
        Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => "`*` is not allowed".to_string(),
        // Not `Display`: it recurses through the whole expression.
        _ => "this expression is not allowed; a filter compares fields with values, \
              combined with AND, OR and NOT"
            .to_string(),
    };
    FilterError::at(message, position(expr))
}

/// Binding strength, loosest first, to parenthesize only where needed.
fn precedence(cond: &Cond) -> u8 {
    match cond {
        Cond::Or(_) => 1,
        Cond::And(_) => 2,
        _ => 3,
    }
}

fn emit(cond: &Cond, min_precedence: u8, out: &mut Filter) {
    let wrap = precedence(cond) < min_precedence;
    if wrap {
        out.sql.push('(');
    }
    match cond {
        Cond::Or(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.sql.push_str(" OR ");
                }
                emit(item, 1, out);
            }
        }
        Cond::And(items) => {
            // Feedback conditions of one AND chain test the same feedback
            // row: one EXISTS holds them all, where the first one stood.
            let feedback: Vec<&Cond> = items.iter().filter(|c| feedback_leaf(c)).collect();
            let mut feedback_done = false;
            let mut first = true;
            for item in items {
                let grouped = feedback.len() > 1 && feedback_leaf(item);
                if grouped && feedback_done {
                    continue;
                }
                if !first {
                    out.sql.push_str(" AND ");
                }
                first = false;
                if grouped {
                    feedback_done = true;
                    out.sql.push_str(FEEDBACK_EXISTS);
                    for (j, leaf) in feedback.iter().enumerate() {
                        if j > 0 {
                            out.sql.push_str(" AND ");
                        }
                        emit_leaf(leaf, out);
                    }
                    out.sql.push(')');
                } else {
                    emit(item, 2, out);
                }
            }
        }
        Cond::Not(inner) => {
            out.sql.push_str("NOT (");
            emit(inner, 0, out);
            out.sql.push(')');
        }
        leaf if feedback_leaf(leaf) => {
            out.sql.push_str(FEEDBACK_EXISTS);
            emit_leaf(leaf, out);
            out.sql.push(')');
        }
        leaf => emit_leaf(leaf, out),
    }
    if wrap {
        out.sql.push(')');
    }
}

/// The column a comparison tests; `None` for AND, OR and NOT.
fn leaf_column(cond: &Cond) -> Option<&'static str> {
    match cond {
        Cond::Compare { column, .. }
        | Cond::In { column, .. }
        | Cond::Between { column, .. }
        | Cond::Like { column, .. }
        | Cond::IsNull { column, .. } => Some(column),
        Cond::And(_) | Cond::Or(_) | Cond::Not(_) => None,
    }
}

fn feedback_leaf(cond: &Cond) -> bool {
    leaf_column(cond).is_some_and(is_feedback)
}

/// A comparison's own SQL (for a feedback field, what goes inside its
/// EXISTS).
fn emit_leaf(cond: &Cond, out: &mut Filter) {
    match cond {
        Cond::And(_) | Cond::Or(_) | Cond::Not(_) => emit(cond, 0, out),
        Cond::Compare { column, op, value } => {
            push_all(out, &[column, " ", op, " ?"]);
            out.params.push(value.clone());
        }
        Cond::In {
            column,
            negated,
            values,
        } => {
            push_all(out, &[column, if *negated { " NOT IN (" } else { " IN (" }]);
            for (i, value) in values.iter().enumerate() {
                out.sql.push_str(if i > 0 { ", ?" } else { "?" });
                out.params.push(value.clone());
            }
            out.sql.push(')');
        }
        Cond::Between {
            column,
            negated,
            low,
            high,
        } => {
            let between = if *negated { " NOT BETWEEN" } else { " BETWEEN" };
            push_all(out, &[column, between, " ? AND ?"]);
            out.params.push(low.clone());
            out.params.push(high.clone());
        }
        Cond::Like {
            column,
            negated,
            pattern,
            escape,
        } => {
            push_all(
                out,
                &[column, if *negated { " NOT LIKE ?" } else { " LIKE ?" }],
            );
            out.params.push(FilterValue::Text(pattern.clone()));
            if let Some(escape) = escape {
                out.sql.push_str(" ESCAPE ?");
                out.params.push(FilterValue::Text(escape.clone()));
            }
        }
        Cond::IsNull { column, negated } => {
            push_all(
                out,
                &[column, if *negated { " IS NOT NULL" } else { " IS NULL" }],
            );
        }
    }
}

fn push_all(out: &mut Filter, parts: &[&str]) {
    for part in parts {
        out.sql.push_str(part);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;
    use rusqlite::Connection;
    use rusqlite::types::Value as SqlValue;

    use super::FilterValue::{Integer, Real, Text};
    use super::*;

    const KEYWORDS: &[&str] = &[
        "AND", "OR", "NOT", "IN", "LIKE", "ESCAPE", "IS", "NULL", "BETWEEN",
    ];
    const OPERATORS: &[&str] = &["=", "<>", "<", "<=", ">", ">="];

    fn ok(q: &str) -> Filter {
        let filter = parse_filter(q).unwrap_or_else(|e| panic!("{q:?} was refused: {e}"));
        check_sql(&filter);
        filter
    }

    fn refused(q: &str) -> String {
        match parse_filter(q) {
            Ok(filter) => panic!("{q:?} was accepted as {filter:?}"),
            Err(e) => e.message,
        }
    }

    fn assert_compiles(q: &str, sql: &str, params: &[FilterValue]) {
        let filter = ok(q);
        assert_eq!(filter.sql, sql, "the SQL of {q:?}");
        assert_eq!(filter.params, params, "the params of {q:?}");
    }

    fn assert_refused(q: &str, expected: &str) {
        let message = refused(q);
        assert!(
            message.contains(expected),
            "{q:?} was refused with {message:?}, expected it to mention {expected:?}"
        );
    }

    /// The `sql` is made only of allow-listed tokens, has one `?` per
    /// parameter, and SQLite prepares and runs it against the real schema.
    fn check_sql(filter: &Filter) {
        // The feedback EXISTS is fixed text of this module: checked once,
        // in `feedback_fields`; here it is one more parenthesis.
        let sql = &filter.sql.replace(FEEDBACK_EXISTS, "(");
        let columns: Vec<&str> = FIELDS
            .iter()
            .chain(FEEDBACK_FIELDS)
            .map(|f| f.column)
            .collect();
        let chars: Vec<char> = sql.chars().collect();
        let mut placeholders = 0;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let start = i;
            i += 1;
            match c {
                ' ' | '(' | ')' | ',' => {}
                '?' => placeholders += 1,
                '<' | '>' | '=' => {
                    while i < chars.len() && matches!(chars[i], '<' | '>' | '=') {
                        i += 1;
                    }
                    let op: String = chars[start..i].iter().collect();
                    assert!(
                        OPERATORS.contains(&op.as_str()),
                        "operator {op:?} in {sql:?}"
                    );
                }
                'a'..='z' | 'A'..='Z' | '_' => {
                    while i < chars.len()
                        && (chars[i].is_ascii_alphabetic() || matches!(chars[i], '_' | '.'))
                    {
                        i += 1;
                    }
                    let word: String = chars[start..i].iter().collect();
                    assert!(
                        columns.contains(&word.as_str()) || KEYWORDS.contains(&word.as_str()),
                        "word {word:?} in {sql:?}"
                    );
                }
                other => panic!("character {other:?} in {sql:?}"),
            }
        }
        assert_eq!(placeholders, filter.params.len(), "placeholders in {sql:?}");
        run(filter);
    }

    fn database() -> Connection {
        let db = Connection::open_in_memory().unwrap();
        for migration in [
            include_str!("../../../migrations/0003_gateway.sql"),
            include_str!("../../../migrations/0004_rollups.sql"),
            include_str!("../../../migrations/0005_daily_rollups.sql"),
            include_str!("../../../migrations/0006_feedback_and_minutes.sql"),
            // The `canary` column.
            include_str!("../../../migrations/0007_canary.sql"),
        ] {
            db.execute_batch(migration).unwrap();
        }
        db.execute_batch(
            "INSERT INTO execution_logs (id, organization_id, actor, prompt_id, environment,
                model, provider, stream, status, error_code, http_status, latency_ms,
                provider_latency_ms, input_tokens, output_tokens, cost_usd, cost_known,
                request_id, user_agent, created_at, canary) VALUES
             ('exe_1', 'org_a', 'tok', 'prm_1', 'production', 'gpt-4o', 'openai', 0,
                'success', NULL, 200, 120, 100, 10, 20, 0.02, 1, 'req_1', 'sdk/1', 1, 0),
             ('exe_2', 'org_a', 'tok', 'prm_1', 'production', 'claude-sonnet-4', 'anthropic', 1,
                'error', 'PROVIDER_TIMEOUT', 504, 3000, NULL, 10, 0, 0, 1, 'req_2', NULL, 2, 0),
             ('exe_3', 'org_a', 'tok', 'prm_2', 'development', 'gpt-4o-mini', 'openai', 0,
                'error', 'UPSTREAM_FAILURE', 502, 2500, 2400, 5, 0, 0.001, 1, 'req_3', 'it''s', 3, 1),
             ('exe_4', 'org_b', 'tok', 'prm_9', 'production', 'gpt-4o', 'openai', 0,
                'error', 'PROVIDER_TIMEOUT', 504, 9000, NULL, 0, 0, 0, 1, 'req_4', NULL, 4, 1);
             INSERT INTO execution_feedback (id, organization_id, execution_id, prompt_key,
                version_key, call_at, name, source, score, actor, request_id, created_at,
                updated_at) VALUES
             ('fbk_1', 'org_a', 'exe_1', 'prm_1', '', 1, 'thumbs', 'user', -1, 't', 'r', 5, 5),
             ('fbk_2', 'org_a', 'exe_1', 'prm_1', '', 1, 'csat', 'crm', 5, 't', 'r', 5, 5),
             ('fbk_3', 'org_a', 'exe_2', 'prm_1', '', 2, 'thumbs', 'user', 1, 't', 'r', 5, 5),
             -- Another organization's feedback on org_a's call never counts.
             ('fbk_4', 'org_b', 'exe_3', 'prm_2', '', 3, 'thumbs', 'user', -1, 't', 'r', 5, 5);",
        )
        .unwrap();
        db
    }

    thread_local! {
        static DB: Connection = database();
    }

    /// The ids `filter` selects in `org_a`, as the logs component will run it.
    fn run(filter: &Filter) -> Vec<String> {
        let sql = format!(
            "SELECT id FROM execution_logs WHERE organization_id = ? AND ({}) ORDER BY seq",
            filter.sql
        );
        let mut params = vec![SqlValue::Text("org_a".into())];
        params.extend(filter.params.iter().map(|p| match p {
            Text(s) => SqlValue::Text(s.clone()),
            Integer(n) => SqlValue::Integer(*n),
            Real(x) => SqlValue::Real(*x),
        }));
        DB.with(|db| {
            let mut statement = db
                .prepare(&sql)
                .unwrap_or_else(|e| panic!("SQLite refused {sql:?}: {e}"));
            statement
                .query_map(rusqlite::params_from_iter(params), |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("SQLite failed on {sql:?}: {e}"))
        })
    }

    fn selects(q: &str) -> Vec<String> {
        run(&ok(q))
    }

    #[test]
    fn the_issue_examples() {
        assert_compiles(
            "status = 'error' AND latencyMs > 2000",
            "status = ? AND latency_ms > ?",
            &[Text("error".into()), Integer(2000)],
        );
        assert_compiles(
            "errorCode IN ('PROVIDER_TIMEOUT','UPSTREAM_FAILURE')",
            "error_code IN (?, ?)",
            &[
                Text("PROVIDER_TIMEOUT".into()),
                Text("UPSTREAM_FAILURE".into()),
            ],
        );
        assert_compiles(
            "cost >= 0.01 OR model LIKE 'gpt-%'",
            "cost_usd >= ? OR model LIKE ?",
            &[Real(0.01), Text("gpt-%".into())],
        );
        // The module docs' last example.
        assert_compiles(
            "NOT (environment = 'production' AND stream = true) AND userAgent IS NOT NULL",
            "NOT (environment = ? AND stream = ?) AND user_agent IS NOT NULL",
            &[Text("production".into()), Integer(1)],
        );
        // DESIGN.md's spelling.
        assert_compiles("latency_ms > 2000", "latency_ms > ?", &[Integer(2000)]);
    }

    #[test]
    fn feedback_fields() {
        assert_compiles(
            "feedback.score < 0",
            &format!("{FEEDBACK_EXISTS}execution_feedback.score < ?)"),
            &[Integer(0)],
        );
        // The EXISTS itself, once: fixed columns, correlated with the row.
        assert_eq!(
            FEEDBACK_EXISTS,
            "EXISTS (SELECT 1 FROM execution_feedback WHERE execution_feedback.organization_id = \
             execution_logs.organization_id AND execution_feedback.execution_id = \
             execution_logs.id AND "
        );
        // Conditions joined by AND test one feedback row, in one EXISTS.
        assert_compiles(
            "feedback.name = 'thumbs' AND status = 'success' AND feedback.score > 0",
            &format!(
                "{FEEDBACK_EXISTS}execution_feedback.name = ? AND \
                 execution_feedback.score > ?) AND status = ?"
            ),
            &[Text("thumbs".into()), Integer(0), Text("success".into())],
        );
        for (q, ids) in [
            ("feedback.score < 0", &["exe_1"][..]),
            ("feedback.score > 0", &["exe_1", "exe_2"]),
            ("FEEDBACK.SCORE >= 5", &["exe_1"]),
            ("\"feedback\".\"name\" = 'csat'", &["exe_1"]),
            ("NOT feedback.score < 0", &["exe_2", "exe_3"]),
            // Same row: exe_1's positive score is a csat, not a thumbs.
            (
                "feedback.name = 'thumbs' AND feedback.score > 0",
                &["exe_2"],
            ),
            (
                "feedback.name = 'thumbs' OR feedback.score > 0",
                &["exe_1", "exe_2"],
            ),
            (
                "feedback.name IN ('csat', 'x') OR status = 'error'",
                &["exe_1", "exe_2", "exe_3"],
            ),
            ("feedback.score BETWEEN -1 AND 0", &["exe_1"]),
            ("NOT feedback.name LIKE '%'", &["exe_3"]),
        ] {
            assert_eq!(selects(q), ids, "{q}");
        }
        for (q, needle) in [
            ("feedback.score IS NULL", "never null"),
            ("feedback.name IS NOT NULL", "never null"),
            (
                "feedback.rating = 1",
                "the qualified fields are feedback.score and feedback.name",
            ),
            ("feedback.score.x = 1", "the qualified fields are"),
            ("feedback.name = 1", "`feedback.name` is text"),
            ("feedback.score = 'x'", "`feedback.score` is a number"),
            ("feedback.score", "alone is not a condition"),
            ("feedback.score = latencyMs", "compare a field with a value"),
            ("latencyMs = feedback.score", "compare a field with a value"),
            ("`feedback`.score < 0", "the qualified fields are"),
        ] {
            assert_refused(q, needle);
        }
    }

    #[test]
    fn comparisons() {
        for (op, sql_op) in [
            ("=", "="),
            ("!=", "<>"),
            ("<>", "<>"),
            ("<", "<"),
            ("<=", "<="),
            (">", ">"),
            (">=", ">="),
        ] {
            assert_compiles(
                &format!("httpStatus {op} 500"),
                &format!("http_status {sql_op} ?"),
                &[Integer(500)],
            );
            assert_compiles(
                &format!("model{op}'b'"),
                &format!("model {sql_op} ?"),
                &[Text("b".into())],
            );
        }
        // A value on the left mirrors the operator.
        assert_compiles("2000 < latencyMs", "latency_ms > ?", &[Integer(2000)]);
        assert_compiles("0.5 >= cost", "cost_usd <= ?", &[Real(0.5)]);
        assert_compiles("'gpt-4o' = model", "model = ?", &[Text("gpt-4o".into())]);
        assert_compiles("3 <> inputTokens", "input_tokens <> ?", &[Integer(3)]);
    }

    #[test]
    fn every_field_and_its_column() {
        for field in FIELDS {
            let value = match field.kind {
                Kind::Text => field
                    .values
                    .first()
                    .map_or("'x'".to_string(), |v| format!("'{v}'")),
                Kind::Number => "1".to_string(),
                Kind::Boolean => "true".to_string(),
            };
            for name in [
                field.name.to_string(),
                field.column.to_string(),
                field.name.to_ascii_uppercase(),
                format!("\"{}\"", field.name),
            ] {
                let filter = ok(&format!("{name} = {value}"));
                assert_eq!(filter.sql, format!("{} = ?", field.column), "{name}");
            }
        }
    }

    #[test]
    fn every_column_is_in_the_schema() {
        let columns: Vec<String> = DB.with(|db| {
            db.prepare("SELECT name FROM pragma_table_info('execution_logs')")
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        });
        for field in FIELDS {
            assert!(
                columns.iter().any(|c| c == field.column),
                "{}",
                field.column
            );
        }
    }

    #[test]
    fn boolean_logic_and_parentheses() {
        assert_compiles(
            "NOT status = 'error'",
            "NOT (status = ?)",
            &[Text("error".into())],
        );
        assert_compiles(
            "(status = 'error' OR stream = true) AND model = 'x'",
            "(status = ? OR stream = ?) AND model = ?",
            &[Text("error".into()), Integer(1), Text("x".into())],
        );
        assert_compiles(
            "status = 'error' OR stream = true AND model = 'x'",
            "status = ? OR stream = ? AND model = ?",
            &[Text("error".into()), Integer(1), Text("x".into())],
        );
        assert_compiles(
            "((status = 'error')) and (model = 'a' AND (provider = 'b'))",
            "status = ? AND model = ? AND provider = ?",
            &[Text("error".into()), Text("a".into()), Text("b".into())],
        );
        assert_compiles(
            "NOT (model = 'a' OR model = 'b') AND NOT NOT stream = false",
            "NOT (model = ? OR model = ?) AND NOT (NOT (stream = ?))",
            &[Text("a".into()), Text("b".into()), Integer(0)],
        );
        assert_compiles(
            "model = 'a' OR (model = 'b' OR (model = 'c' AND (model = 'd' OR model = 'e')))",
            "model = ? OR model = ? OR model = ? AND (model = ? OR model = ?)",
            &["a", "b", "c", "d", "e"].map(|s| Text(s.into())),
        );
    }

    #[test]
    fn in_between_like_and_null() {
        assert_compiles(
            "httpStatus NOT IN (500, 502, 504)",
            "http_status NOT IN (?, ?, ?)",
            &[Integer(500), Integer(502), Integer(504)],
        );
        assert_compiles("stream IN (true)", "stream IN (?)", &[Integer(1)]);
        assert_compiles(
            "environment in ('production', 'development')",
            "environment IN (?, ?)",
            &[Text("production".into()), Text("development".into())],
        );
        assert_compiles(
            "latencyMs BETWEEN 100 AND 2000",
            "latency_ms BETWEEN ? AND ?",
            &[Integer(100), Integer(2000)],
        );
        assert_compiles(
            "cost NOT BETWEEN 0 AND 0.5 AND model BETWEEN 'a' AND 'h'",
            "cost_usd NOT BETWEEN ? AND ? AND model BETWEEN ? AND ?",
            &[Integer(0), Real(0.5), Text("a".into()), Text("h".into())],
        );
        assert_compiles(
            "model NOT LIKE 'claude-%'",
            "model NOT LIKE ?",
            &[Text("claude-%".into())],
        );
        assert_compiles(
            r"errorCode LIKE 'PROVIDER\_%' ESCAPE '\'",
            "error_code LIKE ? ESCAPE ?",
            &[Text(r"PROVIDER\_%".into()), Text(r"\".into())],
        );
        assert_compiles(
            "providerLatencyMs IS NULL",
            "provider_latency_ms IS NULL",
            &[],
        );
        assert_compiles("userAgent IS NOT NULL", "user_agent IS NOT NULL", &[]);
    }

    #[test]
    fn values() {
        assert_compiles("latencyMs > -5", "latency_ms > ?", &[Integer(-5)]);
        assert_compiles("latencyMs > +5", "latency_ms > ?", &[Integer(5)]);
        assert_compiles("cost > 1.5", "cost_usd > ?", &[Real(1.5)]);
        assert_compiles("cost > .5", "cost_usd > ?", &[Real(0.5)]);
        assert_compiles("cost > 1e3", "cost_usd > ?", &[Real(1000.0)]);
        assert_compiles("cost > -2.5E-3", "cost_usd > ?", &[Real(-0.0025)]);
        assert_compiles(
            "latencyMs > -9223372036854775808",
            "latency_ms > ?",
            &[Integer(i64::MIN)],
        );
        assert_compiles(
            "latencyMs < 99999999999999999999",
            "latency_ms < ?",
            &[Real(1e20)],
        );
        assert_compiles("stream = true", "stream = ?", &[Integer(1)]);
        assert_compiles("stream != FALSE", "stream <> ?", &[Integer(0)]);
        assert_compiles("model = 'it''s'", "model = ?", &[Text("it's".into())]);
        assert_compiles("model = ''", "model = ?", &[Text(String::new())]);
        assert_compiles(
            "userAgent LIKE '%🦀 ünïcode%'",
            "user_agent LIKE ?",
            &[Text("%🦀 ünïcode%".into())],
        );
        // Hostile text inside a string is just a value.
        assert_compiles(
            "model = 'x''; DROP TABLE execution_logs; -- /* \" ? $1'",
            "model = ?",
            &[Text("x'; DROP TABLE execution_logs; -- /* \" ? $1".into())],
        );
        assert_compiles(
            "status = 'error'\n\tAND latencyMs > 1",
            "status = ? AND latency_ms > ?",
            &[Text("error".into()), Integer(1)],
        );
    }

    #[test]
    fn filters_select_what_they_say() {
        let all = ["exe_1", "exe_2", "exe_3"];
        for (q, expected) in [
            (
                "status = 'error' AND latencyMs > 2000",
                &["exe_2", "exe_3"][..],
            ),
            (
                "errorCode IN ('PROVIDER_TIMEOUT','UPSTREAM_FAILURE')",
                &["exe_2", "exe_3"],
            ),
            ("cost >= 0.01 OR model LIKE 'claude%'", &["exe_1", "exe_2"]),
            ("model LIKE 'GPT-%'", &["exe_1", "exe_3"]),
            ("stream = true", &["exe_2"]),
            ("NOT stream = true", &["exe_1", "exe_3"]),
            ("canary = true", &["exe_3"]),
            ("canary = false AND stream = false", &["exe_1"]),
            ("providerLatencyMs IS NULL", &["exe_2"]),
            ("userAgent = 'it''s'", &["exe_3"]),
            ("latencyMs BETWEEN 120 AND 2500", &["exe_1", "exe_3"]),
            (
                "status = 'success' OR stream = true AND environment = 'development'",
                &["exe_1"],
            ),
            (
                "(status = 'success' OR stream = true) AND environment = 'production'",
                &["exe_1", "exe_2"],
            ),
            ("httpStatus NOT IN (502, 504)", &["exe_1"]),
            ("latencyMs > 0", &all),
        ] {
            assert_eq!(selects(q), expected, "{q}");
        }
    }

    #[test]
    fn refuses_what_is_outside_the_language() {
        for (q, expected) in [
            // Fields.
            (
                "foo = 1",
                "unknown field `foo`; the fields are status, errorCode",
            ),
            (
                "organization_id = 'org_b'",
                "unknown field `organization_id`",
            ),
            (
                "\"organizationId\" = 'org_b'",
                "unknown field `organizationId`",
            ),
            ("request_body LIKE '%key%'", "unknown field `request_body`"),
            ("seq > 1", "unknown field `seq`"),
            ("actor = 'tok'", "unknown field `actor`"),
            (
                "execution_logs.model = 'x'",
                "the qualified fields are feedback.score and feedback.name",
            ),
            ("`model` = 'x'", "quote field names with double quotes"),
            ("[model] = 'x'", "quote field names with double quotes"),
            // Functions, subqueries, CASE, casts.
            ("lower(model) = 'x'", "functions are not allowed (`lower`)"),
            ("model = lower('X')", "functions are not allowed"),
            ("provider = CURRENT_TIMESTAMP", "functions are not allowed"),
            ("latencyMs > (SELECT 1)", "subqueries are not allowed"),
            (
                "model IN (SELECT model FROM execution_logs)",
                "IN takes a list of values; subqueries",
            ),
            ("model IN execution_logs", "IN takes a list of values"),
            ("EXISTS (SELECT 1)", "EXISTS"),
            ("NOT EXISTS (SELECT 1)", "EXISTS"),
            (
                "CASE WHEN stream = true THEN 1 END = 1",
                "CASE is not allowed",
            ),
            ("CAST(latencyMs AS TEXT) = '1'", "casts are not allowed"),
            ("latencyMs::text = '1'", "casts are not allowed"),
            // Arithmetic, concatenation, fields against fields.
            ("latencyMs + 1 > 2", "arithmetic (`+`)"),
            ("latencyMs > 2 * 1000", "arithmetic (`*`)"),
            ("latencyMs > -providerLatencyMs", "arithmetic (`-`)"),
            ("latencyMs > - -5", "arithmetic (`-`)"),
            ("model || 'x' = 'y'", "string concatenation"),
            ("model = 'a' || 'b'", "string concatenation"),
            (
                "latencyMs > providerLatencyMs",
                "`latencyMs` is compared with the field `providerLatencyMs`",
            ),
            ("model IN (provider)", "compared with the field `provider`"),
            ("1 = 1", "two values are compared"),
            ("'a' = 'a' OR model = 'x'", "two values are compared"),
            ("latencyMs > 1 = true", "comparisons do not chain"),
            (
                "model = (status = 'error')",
                "parentheses group conditions, not values",
            ),
            (
                "model IN ('a') IN ('b')",
                "a field or a value belongs here, not a condition",
            ),
            ("model = 'a' IS NULL", "comparisons do not chain"),
            (
                "latencyMs > (5)",
                "parentheses group conditions, not values",
            ),
            // Comments, statements, placeholders.
            (
                "status = 'error' -- and more",
                "comments are not allowed (at column 18)",
            ),
            (
                "status = /* x */ 'error'",
                "comments are not allowed (at column 10)",
            ),
            (
                "status = 'error' /* unterminated",
                "comments are not allowed",
            ),
            (
                "status = 'error'; DROP TABLE execution_logs",
                "`;` is not allowed",
            ),
            ("status = 'error';", "`;` is not allowed"),
            ("latencyMs > ?", "placeholders (`?`)"),
            ("latencyMs > ?1", "placeholders (`?1`)"),
            ("latencyMs > $1", "placeholders (`$1`)"),
            ("latencyMs > :min", "placeholders (`:min`)"),
            ("latencyMs > @min", "placeholders (`@min`)"),
            // Trailing or missing input.
            (
                "status = 'error' garbage",
                "unexpected `garbage` after the end",
            ),
            ("status = 'error' ORDER BY latencyMs", "unexpected `ORDER`"),
            ("status = 'error' LIMIT 1", "unexpected `LIMIT`"),
            ("status = 'error' UNION SELECT 1", "unexpected `UNION`"),
            ("status = 'error' AND", "invalid filter"),
            (
                "status = 'error",
                "cannot read the filter: Unterminated string",
            ),
            ("(status = 'error'", "invalid filter"),
            ("status = 'error')", "unexpected `)`"),
            ("", "the filter is empty"),
            (" \n\t ", "the filter is empty"),
            // Conditions that are not comparisons.
            ("stream", "`stream` alone is not a condition"),
            (
                "status AND model = 'x'",
                "`status` alone is not a condition",
            ),
            ("true", "is a value, not a condition"),
            ("NULL", "NULL is allowed only in `IS NULL`"),
            // Types.
            (
                "latencyMs > 'abc'",
                "`latencyMs` is a number, but it is compared with text",
            ),
            (
                "model = 5",
                "`model` is text, but it is compared with a number",
            ),
            (
                "stream = 1",
                "`stream` is true or false, but it is compared with a number",
            ),
            (
                "status = true",
                "`status` is text, but it is compared with a boolean",
            ),
            ("latencyMs IN (1, '2')", "compared with text"),
            ("cost BETWEEN 0 AND 'x'", "compared with text"),
            ("stream < true", "use = or != only"),
            (
                "stream BETWEEN false AND true",
                "BETWEEN needs a text or number field",
            ),
            ("latencyMs LIKE '1%'", "LIKE works on text fields only"),
            (
                "model LIKE 5",
                "a LIKE pattern must be a single-quoted string",
            ),
            (
                "model LIKE 'a' ESCAPE 'ab'",
                "ESCAPE takes exactly one character",
            ),
            ("'gpt%' LIKE model", "LIKE needs a field on its left"),
            ("1 IN (1, 2)", "IN needs a field on its left"),
            (
                "status = 'failed'",
                "`status` is 'success' or 'error', not `failed`",
            ),
            ("environment IN ('prod')", "'production' or 'development'"),
            ("model = NULL", "NULL is allowed only in `IS NULL`"),
            ("model IN ('a', NULL)", "NULL is allowed only in `IS NULL`"),
            ("latencyMs > 1e999", "out of range"),
            ("model = X'00'", "hexadecimal"),
            ("latencyMs > 0x10", "hexadecimal"),
            ("model = 'a' COLLATE nocase", "COLLATE is not allowed"),
            // Other operators.
            ("model GLOB 'gpt*'", "the operator `GLOB` is not allowed"),
            ("model REGEXP 'gpt'", "the operator `REGEXP` is not allowed"),
            ("model ILIKE 'gpt%'", "only LIKE is allowed"),
            ("stream IS TRUE", "IS TRUE/FALSE/UNKNOWN is not allowed"),
            ("model IS DISTINCT FROM 'x'", "IS [NOT] DISTINCT FROM"),
            ("latencyMs IS 5", "the operator `IS` is not allowed"),
            ("(latencyMs, cost) = (1, 2)", "tuples are not allowed"),
            ("latencyMs > INTERVAL '1' DAY", "INTERVAL is not allowed"),
            ("model IN ()", "at least one value"),
            ("latencyMs & 1 = 1", "not allowed"),
            ("latencyMs > 1 # comment", "invalid filter"),
            (
                "model = *",
                "invalid filter: Expected: an expression, found: *",
            ),
        ] {
            assert_refused(q, expected);
        }
    }

    #[test]
    fn limits() {
        let list = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        ok(&format!("latencyMs IN ({})", list(MAX_IN_LIST)));
        assert_refused(
            &format!("latencyMs IN ({})", list(MAX_IN_LIST + 1)),
            "an IN list holds at most 100 values; this one has 101",
        );

        let padded = |n: usize| format!("model = '{}'", "x".repeat(n - 10));
        assert_eq!(padded(MAX_FILTER_CHARS).chars().count(), MAX_FILTER_CHARS);
        ok(&padded(MAX_FILTER_CHARS));
        assert_refused(&padded(MAX_FILTER_CHARS + 1), "longer than 2000 characters");
        // Characters, not bytes.
        ok(&format!("model = '{}'", "é".repeat(MAX_FILTER_CHARS - 10)));

        // A long chain is one level, however long.
        let chain = vec!["cost > 1"; 150].join(" OR ");
        assert_eq!(ok(&chain).params.len(), 150);
    }

    /// Filters exactly [`MAX_FILTER_DEPTH`] deep, in every shape that
    /// nests, parse; one level more is refused with the depth message.
    #[test]
    fn nesting_up_to_the_limit() {
        type Shape = fn(usize) -> String;
        let shapes: [(&str, Shape); 7] = [
            ("parentheses", |n| {
                format!("{}model = 'a'{}", "(".repeat(n), ")".repeat(n))
            }),
            ("NOT", |n| format!("{}model = 'a'", "NOT ".repeat(n))),
            ("NOT (", |n| {
                let half = n / 2;
                format!(
                    "{}{}model = 'a'{}",
                    "NOT (".repeat(half),
                    "NOT ".repeat(n - 2 * half),
                    ")".repeat(half)
                )
            }),
            ("AND/OR", |n| {
                let mut q = "model = 'a'".to_string();
                for i in 0..n / 2 {
                    let op = if i % 2 == 0 { "AND" } else { "OR" };
                    q = format!("model = 'b' {op} ({q})");
                }
                if n % 2 == 1 {
                    q = format!("NOT {q}");
                }
                q
            }),
            ("IN", |n| {
                format!("{}model IN ('a', 'b'){}", "(".repeat(n), ")".repeat(n))
            }),
            ("BETWEEN", |n| {
                format!("{}latencyMs BETWEEN 1 AND 2", "NOT ".repeat(n))
            }),
            ("LIKE", |n| {
                format!(
                    "{}model LIKE 'a' ESCAPE 'b'{}",
                    "(".repeat(n),
                    ")".repeat(n)
                )
            }),
        ];
        for (name, shape) in shapes {
            // Levels: the comparison, plus one per parenthesis or NOT.
            let within = shape(MAX_FILTER_DEPTH - 1);
            assert!(parse_filter(&within).is_ok(), "{name}: {within}");
            let deeper = shape(MAX_FILTER_DEPTH);
            let message = refused(&deeper);
            assert!(
                message.contains("nests deeper than 32 levels"),
                "{name}: {deeper} => {message}"
            );
        }
        // AND/OR switches count as levels too.
        let mut q = "model = 'a'".to_string();
        for i in 0..MAX_FILTER_DEPTH / 2 {
            let op = if i % 2 == 0 { "AND" } else { "OR" };
            q = format!("model = 'b' {op} ({q})");
        }
        assert_refused(&format!("({q})"), "nests deeper than 32 levels");
    }

    /// Hostile nesting is an error, quickly, and never a stack overflow:
    /// our own depth check, sqlparser's recursion limit, and the length
    /// limit each stop it.
    #[test]
    fn hostile_nesting_is_refused_quickly() {
        let started = Instant::now();
        let deep = |open: &str, close: &str, n: usize| {
            format!("{}model = 'a'{}", open.repeat(n), close.repeat(n))
        };
        let hostile = [
            deep("(", ")", 10_000),
            deep("NOT (", ")", 10_000),
            deep("NOT ", "", 10_000),
            deep("(- ", ")", 10_000),
            deep("lower(", ")", 10_000),
            deep("CASE WHEN ", " THEN 1 END", 10_000),
            deep("model IN (", ")", 10_000),
            deep("[", "]", 10_000),
            deep("- ", "", 10_000),
            format!("latencyMs > {}1", "-".repeat(10_000)),
            format!("latencyMs > 1{}", " + 1".repeat(10_000)),
            format!("latencyMs IN ({})", vec!["1"; 10_000].join(",")),
            vec!["model = 'a'"; 10_000].join(" AND "),
        ];
        for q in &hostile {
            let shown = &q[..40];
            assert_refused(q, "longer than 2000 characters");
            // Without the length limit, nesting is refused by depth; the
            // rest is refused for what it is.
            let e = compile(q, usize::MAX);
            assert!(
                e.is_err() || q.contains(" AND "),
                "{shown}… was accepted: {e:?}"
            );
            // And at the length limit.
            let cut: String = q.chars().take(MAX_FILTER_CHARS).collect();
            assert!(parse_filter(&cut).is_err(), "{shown}…");
        }
        assert_refused(&deep("(", ")", 990), "nests deeper than 32 levels");
        assert_refused(&deep("(", ")", 10_000)[..], "longer");
        assert!(
            compile(&deep("(", ")", 10_000), usize::MAX)
                .unwrap_err()
                .message
                .contains("nests deeper than 32 levels")
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn errors_name_the_position() {
        assert_eq!(
            refused("status = 'error' AND nope = 1"),
            "unknown field `nope`; the fields are status, errorCode, model, provider, \
             environment, promptId, versionId, version, requestId, userAgent, latencyMs, \
             providerLatencyMs, inputTokens, outputTokens, cachedInputTokens, cost, \
             httpStatus, stream, canary (at column 22)"
        );
        assert_eq!(
            refused("status = 'error'\nAND latencyMs > 'slow'"),
            "`latencyMs` is a number, but it is compared with text (at line 2, column 17)"
        );
        assert_eq!(
            refused(&format!("{}model = 'a'", "(".repeat(40))),
            "the filter nests deeper than 32 levels (at column 32)"
        );
        let long_name = "x".repeat(100);
        let message = refused(&format!("{long_name} = 1"));
        assert!(message.starts_with(&format!("unknown field `{}…`", "x".repeat(40))));
        assert_eq!(
            FilterError::new("the filter is empty").to_string(),
            "the filter is empty"
        );
    }

    /// Generated filters: a source string, and the params it must compile to
    /// (`None` when the source may be refused).
    fn quoted(text: &str) -> String {
        format!("'{}'", text.replace('\'', "''"))
    }

    fn spelling(field: &'static Field) -> impl Strategy<Value = String> {
        prop_oneof![
            Just(field.name.to_string()),
            Just(field.column.to_string()),
            Just(field.name.to_ascii_uppercase()),
            Just(format!("\"{}\"", field.name)),
        ]
    }

    fn field_of(kind: Kind) -> impl Strategy<Value = &'static Field> {
        let fields: Vec<&'static Field> = FIELDS
            .iter()
            .filter(|f| f.kind == kind && f.values.is_empty())
            .collect();
        proptest::sample::select(fields)
    }

    fn number() -> impl Strategy<Value = (String, FilterValue)> {
        prop_oneof![
            any::<i64>().prop_map(|n| (n.to_string(), Integer(n))),
            (proptest::num::f64::NORMAL | proptest::num::f64::ZERO)
                .prop_map(|x| (format!("{x:?}"), Real(x))),
        ]
    }

    /// One valid comparison and its params.
    fn valid_leaf() -> impl Strategy<Value = (String, Vec<FilterValue>)> {
        let text = (
            field_of(Kind::Text).prop_flat_map(spelling),
            any::<String>(),
            0..4usize,
        )
            .prop_map(|(name, value, form)| match form {
                0 => (format!("{name} = {}", quoted(&value)), vec![Text(value)]),
                1 => (format!("{} <> {name}", quoted(&value)), vec![Text(value)]),
                2 => (
                    format!("{name} NOT LIKE {}", quoted(&value)),
                    vec![Text(value)],
                ),
                _ => (
                    format!("{name} IN ({}, 'x')", quoted(&value)),
                    vec![Text(value), Text("x".into())],
                ),
            });
        let numeric = (
            field_of(Kind::Number).prop_flat_map(spelling),
            number(),
            number(),
            proptest::sample::select(vec!["=", "!=", "<", "<=", ">", ">=", "BETWEEN"]),
        )
            .prop_map(|(name, (a, va), (b, vb), op)| {
                if op == "BETWEEN" {
                    (format!("{name} BETWEEN {a} AND {b}"), vec![va, vb])
                } else {
                    (format!("{name} {op} {a}"), vec![va])
                }
            });
        let other = prop_oneof![
            any::<bool>().prop_map(|b| (format!("stream = {b}"), vec![Integer(i64::from(b))])),
            Just(("status = 'error'".to_string(), vec![Text("error".into())])),
            Just((
                "environment != 'development'".to_string(),
                vec![Text("development".into())]
            )),
            Just(("userAgent IS NOT NULL".to_string(), vec![])),
        ];
        prop_oneof![3 => text, 3 => numeric, 1 => other]
    }

    /// Valid filters, nested at most 8 deep.
    fn valid_filter() -> impl Strategy<Value = (String, Vec<FilterValue>)> {
        valid_leaf().prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|(q, p)| (format!("NOT ({q})"), p)),
                inner.clone().prop_map(|(q, p)| (format!("not {q}"), p)),
                (inner.clone(), inner.clone(), any::<bool>()).prop_map(
                    |((a, mut pa), (b, pb), and)| {
                        pa.extend(pb);
                        let op = if and { "AND" } else { "or" };
                        (format!("({a}) {op} ({b})"), pa)
                    }
                ),
                (inner.clone(), inner).prop_map(|((a, mut pa), (b, pb))| {
                    pa.extend(pb);
                    (format!("{a} AND\n{b}"), pa)
                }),
            ]
        })
    }

    /// Pieces of filters, valid or not, to glue together.
    fn fragment() -> impl Strategy<Value = String> {
        let names: Vec<String> = FIELDS
            .iter()
            .flat_map(|f| [f.name.to_string(), f.column.to_string()])
            .chain(["organization_id", "seq", "x", "\"x\"", "`model`", "[cost]"].map(String::from))
            .collect();
        prop_oneof![
            proptest::sample::select(names),
            any::<String>().prop_map(|s| quoted(&s)),
            any::<String>().prop_map(|s| format!("'{s}'")),
            "[ -~]{0,12}".prop_map(String::from),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|x| format!("{x:?}")),
            proptest::sample::select(
                [
                    "=",
                    "!=",
                    "<>",
                    "<",
                    "<=",
                    ">",
                    ">=",
                    "AND",
                    "OR",
                    "NOT",
                    "IN",
                    "NOT IN",
                    "LIKE",
                    "ESCAPE",
                    "IS",
                    "NULL",
                    "IS NOT NULL",
                    "BETWEEN",
                    "(",
                    ")",
                    ",",
                    "true",
                    "false",
                    ";",
                    "--",
                    "/*",
                    "*/",
                    "?",
                    "$1",
                    ":a",
                    "@a",
                    "||",
                    "+",
                    "-",
                    "*",
                    "'",
                    "\"",
                    "SELECT",
                    "FROM",
                    "EXISTS",
                    "CASE",
                    "WHEN",
                    "END",
                    "CAST",
                    "AS",
                    "lower(",
                    "::",
                    "COLLATE",
                    "\n",
                    "é",
                    "🦀",
                    "\0",
                ]
                .map(String::from)
                .to_vec()
            ),
        ]
    }

    /// `field op value` clauses joined by AND/OR, where any part may be a
    /// random fragment instead: mostly valid shapes with arbitrary values.
    fn near_valid() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            9 => proptest::sample::select(FIELDS.iter().collect::<Vec<_>>()).prop_flat_map(spelling),
            1 => fragment(),
        ];
        let op = prop_oneof![
            9 => proptest::sample::select(
                ["=", "!=", "<>", "<", "<=", ">", ">=", "LIKE", "NOT LIKE"].map(String::from).to_vec()
            ),
            1 => fragment(),
        ];
        let value = prop_oneof![
            3 => any::<String>().prop_map(|s| quoted(&s)),
            2 => number().prop_map(|(text, _)| text),
            1 => any::<bool>().prop_map(|b| b.to_string()),
            1 => Just("'error'".to_string()),
            1 => fragment(),
        ];
        let joiner = prop_oneof![
            4 => Just("AND".to_string()),
            4 => Just("OR".to_string()),
            1 => Just("AND NOT".to_string()),
            1 => fragment(),
        ];
        proptest::collection::vec((field, op, value, joiner), 1..6).prop_map(|clauses| {
            let mut q = String::new();
            for (i, (field, op, value, joiner)) in clauses.iter().enumerate() {
                if i > 0 {
                    q.push_str(&format!(" {joiner} "));
                }
                q.push_str(&format!("{field} {op} {value}"));
            }
            q
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn near_valid_input_is_refused_or_safe(q in near_valid()) {
            if let Ok(filter) = parse_filter(&q) {
                check_sql(&filter);
            }
        }

        /// Anything at all: never a panic, and what is accepted is safe SQL.
        #[test]
        fn arbitrary_input_never_panics(q in any::<String>()) {
            if let Ok(filter) = parse_filter(&q) {
                check_sql(&filter);
            }
        }

        #[test]
        fn sql_like_input_never_panics(q in "[a-zA-Z_0-9 ()'\"=<>!,;.%$?:@*/+#`\\[\\]\\n-]{0,80}") {
            if let Ok(filter) = parse_filter(&q) {
                check_sql(&filter);
            }
        }

        #[test]
        fn glued_fragments_never_reach_sql(parts in proptest::collection::vec(fragment(), 1..16)) {
            let q = parts.join(" ");
            if let Ok(filter) = parse_filter(&q) {
                check_sql(&filter);
            }
        }

        /// Valid filters with arbitrary strings (quotes, `;`, `--`, unicode)
        /// and numbers compile, and every value arrives as a parameter,
        /// intact and in order.
        #[test]
        fn valid_filters_keep_every_value_a_parameter((q, params) in valid_filter()) {
            match parse_filter(&q) {
                Ok(filter) => {
                    check_sql(&filter);
                    prop_assert_eq!(filter.params, params);
                }
                Err(e) => prop_assert!(
                    q.chars().count() > MAX_FILTER_CHARS,
                    "{:?} was refused: {}", q, e
                ),
            }
        }

        /// Valid filters with one part damaged are refused or still safe.
        #[test]
        fn damaged_filters_are_refused_or_safe(
            (q, _) in valid_filter(),
            at in any::<proptest::sample::Index>(),
            insert in fragment(),
        ) {
            let boundaries: Vec<usize> = q.char_indices().map(|(i, _)| i).chain([q.len()]).collect();
            let cut = boundaries[at.index(boundaries.len())];
            let damaged = format!("{}{insert}{}", &q[..cut], &q[cut..]);
            if let Ok(filter) = parse_filter(&damaged) {
                check_sql(&filter);
            }
        }
    }
}
