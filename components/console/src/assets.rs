//! The UI's files, embedded at compile time from `ui/`: the index at `/`,
//! everything else at `/assets/<file>`. Adding a file to `ui/` means adding
//! a line here (the tests check that none is missing).

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

pub struct Asset {
    /// The request path that serves it.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

impl Asset {
    /// A strong entity tag: FNV-1a of the body, which changes with any edit.
    pub fn etag(&self) -> String {
        let hash = self.body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("\"{hash:016x}\"")
    }
}

macro_rules! asset {
    ($file:literal, $type:expr) => {
        Asset {
            path: concat!("/assets/", $file),
            content_type: $type,
            body: include_str!(concat!("../ui/", $file)),
        }
    };
}

static ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: HTML,
        body: include_str!("../ui/index.html"),
    },
    asset!("app.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("chart.js", JS),
    asset!("signin.js", JS),
    asset!("prompts.js", JS),
    asset!("prompt.js", JS),
    asset!("versions.js", JS),
    asset!("watch.js", JS),
    asset!("analytics.js", JS),
    asset!("logs.js", JS),
    asset!("compare.js", JS),
    asset!("run.js", JS),
    asset!("audit.js", JS),
    asset!("tokens.js", JS),
];

/// The asset a request path names, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn file_name(asset: &Asset) -> &str {
        asset.path.strip_prefix("/assets/").unwrap_or("index.html")
    }

    /// Every `/assets/<name>` and every relative module specifier
    /// (`from './x.js'`, `import('./x.js')`) in `text`.
    fn references(text: &str) -> Vec<String> {
        let mut refs = Vec::new();
        for (prefix, rest) in [("/assets/", text), ("'./", text)] {
            for (i, _) in rest.match_indices(prefix) {
                let name: String = rest[i + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                    .collect();
                if !name.is_empty() {
                    refs.push(name);
                }
            }
        }
        refs
    }

    #[test]
    fn every_referenced_asset_exists() {
        let names: BTreeSet<&str> = ASSETS.iter().map(file_name).collect();
        for asset in ASSETS {
            for name in references(asset.body) {
                assert!(
                    names.contains(name.as_str()),
                    "{} references {name}, which is not in the asset table",
                    asset.path
                );
            }
        }
    }

    #[test]
    fn every_ui_file_is_in_the_table_once() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/ui");
        let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let in_table: Vec<&str> = ASSETS.iter().map(file_name).collect();
        let unique: BTreeSet<String> = in_table.iter().map(|s| s.to_string()).collect();
        assert_eq!(unique.len(), in_table.len(), "a file is listed twice");
        assert_eq!(on_disk, unique);
    }

    #[test]
    fn content_types_follow_the_extension() {
        for asset in ASSETS {
            let name = file_name(asset);
            let expected = match name.rsplit('.').next() {
                Some("html") => HTML,
                Some("css") => CSS,
                Some("js") => JS,
                Some("svg") => SVG,
                other => panic!("no content type for {name} ({other:?})"),
            };
            assert_eq!(asset.content_type, expected, "{name}");
        }
    }

    #[test]
    fn nothing_the_csp_would_block_or_that_parses_api_text_as_html() {
        for asset in ASSETS {
            // The SVG namespace is a name, not a URL anything loads.
            let body = asset.body.replace("http://www.w3.org/2000/svg", "");
            for banned in [
                " style=",
                ".innerHTML",
                "insertAdjacentHTML",
                "http://",
                "https://",
            ] {
                assert!(!body.contains(banned), "{}: contains {banned}", asset.path);
            }
        }
        let index = find("/").unwrap().body;
        for (i, _) in index.match_indices("<script") {
            let tag = &index[i..i + index[i..].find('>').unwrap()];
            assert!(tag.contains(" src=\"/assets/"), "inline script: {tag}");
        }
        assert!(!index.contains("<style"));
    }

    #[test]
    fn etags_differ_between_assets() {
        let tags: BTreeSet<String> = ASSETS.iter().map(Asset::etag).collect();
        assert_eq!(tags.len(), ASSETS.len());
    }
}
