//! Reading what a request carries: its JSON body, its query parameters and
//! the route parameters Spin matched (`:id` in spin.toml arrives as the
//! `spin-path-match-id` header). Every failure is a 400 [`ApiError`] that
//! says what was wrong, so no handler has to word these itself.

use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// The largest JSON body any endpoint reads (prompt texts are at most
/// 100,000 characters, so real bodies stay far below it).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How much of a too-large body is still read (and thrown away) before the
/// 413 is answered. Under `spin up`, a response sent while the client is
/// still sending its body was sometimes cut off (the final chunk never
/// sent); a client that finished sending always gets the whole 413. Past
/// this bound the 413 is sent anyway.
pub const MAX_DRAINED_BYTES: usize = 16 << 20;

/// Reads the body (at most [`MAX_BODY_BYTES`], else 413
/// `PAYLOAD_TOO_LARGE`, after draining the rest up to
/// [`MAX_DRAINED_BYTES`]) and parses it as `T`. An
/// empty body, malformed JSON, a wrong type or an unknown field (for types
/// that deny them) is a 400 naming the problem and where it is.
pub async fn read_json<T: DeserializeOwned>(req: spin_sdk::http::Request) -> Result<T, ApiError> {
    parse_json(&read_body(req).await?)
}

/// Like [`read_json`], but an empty body means `T::default()`: for
/// endpoints whose body is optional (the seed's promote sends none).
pub async fn read_optional_json<T: DeserializeOwned + Default>(
    req: spin_sdk::http::Request,
) -> Result<T, ApiError> {
    let bytes = read_body(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(&bytes)
}

async fn read_body(req: spin_sdk::http::Request) -> Result<Vec<u8>, ApiError> {
    let mut body = req.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::validation_error(format!("could not read the request body: {e:?}"))
        })?;
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
            if bytes.len() > MAX_BODY_BYTES {
                // Drain the rest (see MAX_DRAINED_BYTES) before answering.
                let mut read = bytes.len();
                while read <= MAX_DRAINED_BYTES {
                    match body.frame().await {
                        Some(Ok(frame)) => read += frame.into_data().map_or(0, |d| d.len()),
                        _ => break,
                    }
                }
                return Err(ApiError::new(
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    crate::codes::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                ));
            }
        }
    }
    Ok(bytes)
}

/// The pure half of [`read_json`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::validation_error(
            "the request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::validation_error(format!("the request body is not valid: {e}")))
}

/// A route parameter: the value Spin matched for `:name`.
pub fn path_param<B>(req: &http::Request<B>, name: &str) -> Option<String> {
    req.headers()
        .get(format!("spin-path-match-{name}"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The spin.toml route that matched (Spin's `spin-matched-route` header),
/// e.g. `/api/v1/prompts/:id/archive`: how a component serving several
/// routes tells them apart without re-parsing the path.
pub fn matched_route<B>(req: &http::Request<B>) -> Option<&str> {
    req.headers()
        .get("spin-matched-route")
        .and_then(|v| v.to_str().ok())
}

/// The decoded query parameters of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes the query of `uri`, allowing only the parameters in `allowed`,
    /// each at most once: a typo (`?limt=5`) is a 400 rather than being
    /// silently ignored.
    pub fn parse(uri: &http::Uri, allowed: &[&str]) -> Result<Query, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let raw = uri.query().unwrap_or("");
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                let allowed = if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                };
                return Err(ApiError::validation_error(format!(
                    "unknown query parameter {name:?}; allowed: {allowed}"
                )));
            }
            if pairs.iter().any(|(n, _)| n == name.as_ref()) {
                return Err(ApiError::validation_error(format!(
                    "query parameter {name:?} is given more than once"
                )));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Query { pairs })
    }

    /// The value of `name`, if given (an empty value counts as given).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or a 400 saying it is required.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::validation_error(format!(
                "query parameter {name:?} is required"
            ))),
        }
    }

    /// A boolean parameter: `true` or `false`; absent is `false`.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::validation_error(format!(
                "query parameter {name:?} must be true or false, not {other:?}"
            ))),
        }
    }

    /// A timestamp parameter (see [`prompthelm_domain::time::parse_timestamp`]).
    pub fn timestamp(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                prompthelm_domain::time::parse_timestamp(v).map_err(|e| {
                    ApiError::validation_error(format!("query parameter {name:?}: {e}"))
                })
            })
            .transpose()
    }

    /// The page request from `limit` and `cursor`.
    pub fn page(&self) -> Result<prompthelm_domain::pagination::PageRequest, ApiError> {
        prompthelm_domain::pagination::PageRequest::parse(self.get("limit"), self.get("cursor"))
            .map_err(ApiError::validation_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use serde::Deserialize;

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    #[test]
    fn decodes_allowed_parameters() {
        let q = Query::parse(
            &uri("/x?q=a%20b+c&limit=5&flag=true"),
            &["q", "limit", "flag"],
        )
        .unwrap();
        assert_eq!(q.get("q"), Some("a b c"));
        assert_eq!(q.page().unwrap().limit, 5);
        assert!(q.flag("flag").unwrap());
        assert!(!q.flag("other").unwrap());
        assert_eq!(q.get("missing"), None);
        assert!(Query::parse(&uri("/x"), &[]).unwrap().get("q").is_none());
    }

    #[test]
    fn refuses_unknown_repeated_and_malformed_parameters() {
        let unknown = Query::parse(&uri("/x?limt=5"), &["limit"]).unwrap_err();
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        assert!(unknown.message.contains("\"limt\""), "{}", unknown.message);
        assert!(unknown.message.contains("limit"));
        let twice = Query::parse(&uri("/x?a=1&a=2"), &["a"]).unwrap_err();
        assert!(twice.message.contains("more than once"));
        let q = Query::parse(
            &uri("/x?f=yes&t=soon&limit=0&from="),
            &["f", "t", "limit", "from"],
        )
        .unwrap();
        assert!(q.flag("f").is_err());
        assert!(q.timestamp("t").unwrap_err().message.contains("\"t\""));
        assert!(q.page().is_err());
        assert!(q.require("from").is_err());
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        name: String,
    }

    #[test]
    fn json_bodies_fail_with_the_reason() {
        assert!(parse_json::<Body>(br#"{"name":"x"}"#).is_ok());
        for (body, needle) in [
            (&b""[..], "empty"),
            (b"  \n", "empty"),
            (b"{", "EOF"),
            (br#"{"name": 3}"#, "invalid type"),
            (br#"{"name": "x", "nmae": 1}"#, "unknown field"),
            (b"[]", "expected struct Body"),
        ] {
            let err = parse_json::<Body>(body).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
            assert_eq!(err.code, "VALIDATION_ERROR");
            assert!(err.message.contains(needle), "{}", err.message);
        }
    }

    #[test]
    fn route_parameters_come_from_spin_headers() {
        let req = http::Request::builder()
            .header("spin-path-match-id", "prm_1")
            .body(())
            .unwrap();
        assert_eq!(path_param(&req, "id").as_deref(), Some("prm_1"));
        assert_eq!(path_param(&req, "vid"), None);
        assert_eq!(matched_route(&req), None);
        let req = http::Request::builder()
            .header("spin-matched-route", "/api/v1/prompts/:id")
            .body(())
            .unwrap();
        assert_eq!(matched_route(&req), Some("/api/v1/prompts/:id"));
    }
}
