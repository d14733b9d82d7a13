//! Cursor pagination of lists: `?limit=&cursor=` in, `{data, nextCursor}` out.
//!
//! A cursor names the position after the last row of a page (the row's
//! internal sequence number), so pages stay stable while rows are added: a
//! new row never shifts the rows a client has not seen yet. Cursors are
//! opaque to clients: `c` and the position in hex.

use serde::Serialize;

/// The page size when the client gives none.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page size a client may ask for.
pub const MAX_LIMIT: u32 = 200;

/// A page request, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows per page, 1 to [`MAX_LIMIT`].
    pub limit: u32,
    /// The position to continue after, from the client's cursor.
    pub after: Option<i64>,
}

impl PageRequest {
    /// Checks `limit` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and
    /// decodes `cursor`. Errors name the parameter and say what is allowed.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, String> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| format!("limit must be a whole number from 1 to {MAX_LIMIT}"))?,
        };
        let after = match cursor {
            None | Some("") => None,
            Some(text) => Some(decode_cursor(text).ok_or_else(|| {
                "cursor is not one this API returned; pass nextCursor from the previous page"
                    .to_owned()
            })?),
        };
        Ok(PageRequest { limit, after })
    }

    /// How many rows to fetch: one more than the page, to learn whether
    /// another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// A page of a list, as sent: `{"data": [...], "nextCursor": "..." | null}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The rows of this page.
    pub data: Vec<T>,
    /// Where the next page starts; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds the page from up to [`PageRequest::fetch_limit`] rows fetched
    /// in list order, each with its position: the extra row, if present, is
    /// dropped and means there is a next page after the last kept row.
    pub fn from_rows(request: &PageRequest, mut rows: Vec<(i64, T)>) -> Page<T> {
        let limit = request.limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|(position, _)| encode_cursor(*position))
        } else {
            None
        };
        Page {
            data: rows.into_iter().map(|(_, row)| row).collect(),
            next_cursor,
        }
    }
}

fn encode_cursor(position: i64) -> String {
    format!("c{position:x}")
}

fn decode_cursor(text: &str) -> Option<i64> {
    let hex = text.strip_prefix('c')?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        assert_eq!(
            PageRequest::parse(None, None),
            Ok(PageRequest {
                limit: DEFAULT_LIMIT,
                after: None
            })
        );
        assert_eq!(PageRequest::parse(Some("1"), Some("")).unwrap().limit, 1);
        assert_eq!(PageRequest::parse(Some("200"), None).unwrap().limit, 200);
        for bad in ["0", "201", "-1", "ten", "", "1.5"] {
            let err = PageRequest::parse(Some(bad), None).unwrap_err();
            assert!(err.starts_with("limit"), "{bad}: {err}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for position in [0, 1, 255, i64::MAX] {
            let cursor = encode_cursor(position);
            assert_eq!(
                PageRequest::parse(None, Some(&cursor)).unwrap().after,
                Some(position)
            );
        }
        for bad in [
            "c",
            "x10",
            "c-1",
            "cfffffffffffffffff",
            "c 1",
            "10",
            "c8000000000000000",
        ] {
            assert!(PageRequest::parse(None, Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_know_whether_more_follow() {
        let req = PageRequest::parse(Some("2"), None).unwrap();
        assert_eq!(req.fetch_limit(), 3);
        let full = Page::from_rows(&req, vec![(7, "a"), (9, "b"), (12, "c")]);
        assert_eq!(full.data, ["a", "b"]);
        assert_eq!(full.next_cursor.as_deref(), Some("c9"));
        let last = Page::from_rows(&req, vec![(7, "a"), (9, "b")]);
        assert_eq!(last.next_cursor, None);
        let empty: Page<&str> = Page::from_rows(&req, vec![]);
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"data":[],"nextCursor":null}"#
        );
    }
}
