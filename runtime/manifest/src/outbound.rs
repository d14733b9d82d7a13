//! `allowed_outbound_hosts`, following Spin's `outbound-networking-config`
//! (`allowed_hosts.rs`).
//!
//! Each entry is `<scheme>://<host>[:<port>]`:
//!
//! * scheme: a name (`http`, `https`, `redis`, ...) or `*`;
//! * host: a name or IP (`example.com`, `127.0.0.1`, `[::1]`), `*` for any
//!   host, `*.example.com` for any subdomain (not `example.com` itself), or an
//!   IP network in CIDR form (`10.0.0.0/8`; a port is then required after it
//!   when the scheme has no default, e.g. `*://10.0.0.0/8:*`);
//! * port: a number, `*`, or a range `1000..2000` (end exclusive, as in Spin);
//!   when omitted it is the scheme's default (80 for `http`, 443 for `https`,
//!   5432 `postgres`, 3306 `mysql`, 6379 `redis`, 1883 `mqtt`); a scheme without
//!   a default (or `*`) needs an explicit port.
//!
//! `*://*:*` allows everything. One trailing `/` is tolerated; any other path is
//! an error, as is a missing scheme. Errors (not supported by the local
//! runtime): `self` / `self.alt` hosts, service chaining (`*.spin.internal`),
//! and `{a,b}` lists. Unlike Spin, `http://[::1]` (bracketed IPv6 without a
//! port) is accepted. Host names compare case-insensitively and IP literals by
//! value.

use std::net::IpAddr;

use anyhow::{Context as _, Result, anyhow, bail};

use crate::ComponentManifest;
use crate::variables::Variables;

/// A parsed allow-list. Empty allows nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    original: String,
    scheme: SchemeRule,
    host: HostRule,
    port: PortRule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemeRule {
    Any,
    Is(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    Any,
    /// `.example.com`: the host must end with it.
    Subdomain(String),
    /// A lowercased name or a canonical IP literal (no brackets).
    Exact(String),
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortRule {
    Any,
    Port(u16),
    /// `start..end`, end exclusive.
    Range(u16, u16),
}

/// The default port Spin assumes for a scheme.
pub fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHosts {
    /// Parses already-rendered entries (no `{{ }}` templates left).
    pub fn parse(entries: &[String]) -> Result<AllowedHosts> {
        let entries = entries
            .iter()
            .map(|e| parse_entry(e))
            .collect::<Result<Vec<_>>>()?;
        Ok(AllowedHosts { entries })
    }

    /// Whether a connection to `scheme://host:port` is allowed. `port: None`
    /// means the scheme's default port. `host` may be a bracketed IPv6 literal.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = normalize_host(host);
        let port = port.or_else(|| well_known_port(&scheme));
        self.entries
            .iter()
            .any(|e| e.scheme.allows(&scheme) && e.host.allows(&host) && e.port.allows(port))
    }

    /// Whether some entry is `*://*:*` (no sandboxing at all).
    pub fn allows_all(&self) -> bool {
        self.entries.iter().any(|e| {
            e.scheme == SchemeRule::Any && e.host == HostRule::Any && e.port == PortRule::Any
        })
    }

    /// No entries: nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries as written.
    pub fn entries(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.original.as_str())
    }
}

/// Renders a component's `allowed_outbound_hosts` templates and parses them.
pub fn component_allowed_hosts(
    component: &ComponentManifest,
    vars: &Variables,
) -> Result<AllowedHosts> {
    let rendered = component
        .allowed_outbound_hosts
        .iter()
        .map(|entry| vars.render(entry))
        .collect::<Result<Vec<_>>>()
        .with_context(|| {
            format!(
                "component `{}`: cannot render allowed_outbound_hosts",
                component.id
            )
        })?;
    AllowedHosts::parse(&rendered).with_context(|| {
        format!(
            "component `{}`: invalid allowed_outbound_hosts",
            component.id
        )
    })
}

impl SchemeRule {
    fn allows(&self, scheme: &str) -> bool {
        match self {
            SchemeRule::Any => true,
            SchemeRule::Is(s) => s == scheme,
        }
    }
}

impl HostRule {
    fn allows(&self, host: &str) -> bool {
        match self {
            HostRule::Any => true,
            HostRule::Subdomain(suffix) => host.ends_with(suffix.as_str()),
            HostRule::Exact(h) => h == host,
            HostRule::Cidr(net, prefix) => host
                .parse::<IpAddr>()
                .is_ok_and(|ip| mask(ip, *prefix) == Some(*net)),
        }
    }
}

impl PortRule {
    fn allows(&self, port: Option<u16>) -> bool {
        match (self, port) {
            (PortRule::Any, _) => true,
            (PortRule::Port(p), Some(port)) => *p == port,
            (PortRule::Range(start, end), Some(port)) => (*start..*end).contains(&port),
            (_, None) => false,
        }
    }
}

/// Lowercase, brackets stripped, IP literals in canonical form.
fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    }
}

/// `ip` truncated to `prefix` bits; `None` if the prefix is too long.
fn mask(ip: IpAddr, prefix: u8) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) => {
            if prefix > 32 {
                return None;
            }
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            Some(IpAddr::V4((bits & m).into()))
        }
        IpAddr::V6(v6) => {
            if prefix > 128 {
                return None;
            }
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            Some(IpAddr::V6((bits & m).into()))
        }
    }
}

fn parse_entry(entry: &str) -> Result<AllowedHost> {
    let url = entry.trim();
    if url == "insecure:allow-all" {
        bail!(
            "'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to \
             allow all outbound traffic"
        );
    }
    if url.contains("{{") {
        bail!("{url:?} still contains a `{{{{ variable }}}}` template; render it first");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        if matches!(url, "*" | ":" | "" | "?") {
            bail!(
                "{url:?} is not an allowed outbound host format: hosts must be in the form \
                 <scheme>://<host>[:<port>], with '*' wildcards allowed for each (use '*://*:*' \
                 to allow all outbound networking)"
            );
        }
        bail!("{url:?} does not contain a scheme (e.g. 'http://' or '*://')");
    };

    let scheme_rule = if scheme == "*" {
        SchemeRule::Any
    } else if scheme.starts_with('{') {
        bail!("{url:?}: scheme lists are not supported by the local runtime");
    } else if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphabetic()) {
        bail!("{url:?}: scheme {scheme:?} must be letters only (or `*`)");
    } else {
        SchemeRule::Is(scheme.to_ascii_lowercase())
    };

    // One trailing slash (an empty path) is fine, as in Spin.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = if let Some(after) = rest.strip_prefix('[') {
        let (inside, tail) = after
            .split_once(']')
            .ok_or_else(|| anyhow!("{url:?}: unterminated `[` in an IPv6 address"))?;
        let port = match tail {
            "" => "",
            t => t
                .strip_prefix(':')
                .ok_or_else(|| anyhow!("{url:?}: expected `:<port>` after `]`"))?,
        };
        let ip: std::net::Ipv6Addr = inside
            .parse()
            .map_err(|_| anyhow!("{url:?}: {inside:?} is not an IPv6 address"))?;
        (HostRule::Exact(IpAddr::V6(ip).to_string()), port)
    } else {
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
        (parse_host(host, url)?, port)
    };
    if port.contains('/') {
        bail!("{url:?} has a path; allowed hosts must not contain paths");
    }
    let port_rule = parse_port(port, scheme, url)?;

    Ok(AllowedHost {
        original: entry.to_string(),
        scheme: scheme_rule,
        host,
        port: port_rule,
    })
}

fn parse_host(host: &str, url: &str) -> Result<HostRule> {
    let host = host.trim();
    if host.is_empty() {
        bail!("{url:?} has no host");
    }
    if host == "*" {
        return Ok(HostRule::Any);
    }
    if host == "self" || host == "self.alt" {
        bail!(
            "{url:?}: `self` (requests from a component to its own app by relative URL) is not \
             supported by the local runtime"
        );
    }
    if host.starts_with('{') {
        bail!("{url:?}: host lists are not supported by the local runtime");
    }
    if let Some((ip, prefix)) = host.split_once('/') {
        let Ok(ip) = ip.parse::<IpAddr>() else {
            bail!("{url:?} has a path; allowed hosts must not contain paths");
        };
        let net = prefix
            .parse::<u8>()
            .ok()
            .and_then(|p| mask(ip, p).map(|net| (net, p)))
            .ok_or_else(|| anyhow!("{url:?}: invalid CIDR prefix length {prefix:?}"))?;
        return Ok(HostRule::Cidr(net.0, net.1));
    }
    let host = host.to_ascii_lowercase();
    if host == "spin.internal" || host.ends_with(".spin.internal") {
        bail!(
            "{url:?}: service chaining (`*.spin.internal`) is not supported by the local runtime"
        );
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.is_empty() || domain.contains('*') {
            bail!("{url:?}: wildcards are allowed only as a leading `*.` subdomain");
        }
        return Ok(HostRule::Subdomain(format!(".{domain}")));
    }
    if host.contains('*') {
        bail!("{url:?}: wildcards are allowed only as the whole host (`*`) or a leading `*.`");
    }
    if host.contains(':') {
        bail!("{url:?}: write IPv6 addresses in brackets, e.g. `http://[::1]:8080`");
    }
    Ok(HostRule::Exact(normalize_host(&host)))
}

fn parse_port(port: &str, scheme: &str, url: &str) -> Result<PortRule> {
    if port.is_empty() {
        return well_known_port(scheme).map(PortRule::Port).ok_or_else(|| {
            anyhow!(
                "{url:?}: no port was given and the scheme {scheme:?} has no known default port; \
                 add one (e.g. `:8080`, or `:*` for any)"
            )
        });
    }
    if port == "*" {
        return Ok(PortRule::Any);
    }
    if port.starts_with('{') {
        bail!("{url:?}: port lists are not supported by the local runtime");
    }
    let number = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| anyhow!("{url:?}: port {p:?} is not a number"))
    };
    if let Some((start, end)) = port.split_once("..") {
        let (start, end) = (number(start)?, number(end)?);
        if start >= end {
            bail!("{url:?}: port range {port:?} is empty (the end is exclusive)");
        }
        return Ok(PortRule::Range(start, end));
    }
    Ok(PortRule::Port(number(port)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn parse_err(entry: &str) -> String {
        format!(
            "{:#}",
            AllowedHosts::parse(&[entry.to_string()]).unwrap_err()
        )
    }

    #[test]
    fn empty_allows_nothing() {
        let h = hosts(&[]);
        assert!(h.is_empty());
        assert!(!h.allows("https", "example.com", None));
    }

    #[test]
    fn exact_host_default_ports() {
        let h = hosts(&["https://example.com"]);
        assert!(h.allows("https", "example.com", None));
        assert!(h.allows("https", "example.com", Some(443)));
        assert!(h.allows("HTTPS", "Example.COM", None));
        assert!(!h.allows("https", "example.com", Some(8443)));
        assert!(!h.allows("http", "example.com", None));
        assert!(!h.allows("https", "api.example.com", None));
        assert!(!h.allows("https", "myexample.com", None));

        let h = hosts(&["http://example.com/"]);
        assert!(h.allows("http", "example.com", Some(80)));
        assert!(!h.allows("http", "example.com", Some(443)));
    }

    #[test]
    fn explicit_ports_and_ranges() {
        let h = hosts(&[
            "http://127.0.0.1:8080",
            "http://spin.fermyon.dev:4444..5555",
        ]);
        assert!(h.allows("http", "127.0.0.1", Some(8080)));
        assert!(!h.allows("http", "127.0.0.1", None));
        assert!(!h.allows("http", "127.0.0.1", Some(8081)));
        assert!(!h.allows("http", "localhost", Some(8080)));
        assert!(h.allows("http", "spin.fermyon.dev", Some(4444)));
        assert!(h.allows("http", "spin.fermyon.dev", Some(5554)));
        assert!(!h.allows("http", "spin.fermyon.dev", Some(5555)));
        assert!(parse_err("http://x:5..5").contains("empty"));
        assert!(parse_err("http://x:a..5").contains("not a number"));
        assert!(parse_err("http://x:99999").contains("not a number"));
    }

    #[test]
    fn subdomain_wildcards() {
        let h = hosts(&["https://*.example.com", "http://*.example2.com:8383"]);
        assert!(h.allows("https", "a.example.com", None));
        assert!(h.allows("https", "a.b.example.com", None));
        assert!(!h.allows("https", "example.com", None));
        assert!(!h.allows("https", "myexample.com", None));
        assert!(h.allows("http", "a.b.example2.com", Some(8383)));
        assert!(!h.allows("http", "a.b.example2.com", None));
        assert!(parse_err("https://*.*.example.com").contains("wildcards"));
        assert!(parse_err("https://api*.example.com").contains("wildcards"));
        assert!(parse_err("https://*.").contains("wildcards"));
    }

    #[test]
    fn scheme_and_port_wildcards() {
        let h = hosts(&["*://example.com:*"]);
        assert!(h.allows("https", "example.com", None));
        assert!(h.allows("redis", "example.com", Some(1234)));
        assert!(h.allows("tcp", "example.com", None));
        assert!(!h.allows("https", "other.com", None));

        let h = hosts(&["http://localhost:*"]);
        assert!(h.allows("http", "localhost", Some(3000)));
        assert!(h.allows("http", "localhost", None));
        assert!(!h.allows("https", "localhost", Some(3000)));

        let h = hosts(&["*://spin.fermyon.dev:443", "http://example.com:8383"]);
        assert!(h.allows("https", "spin.fermyon.dev", None));
        assert!(h.allows("http", "example.com", Some(8383)));
        assert!(!h.allows("http", "example.com", None));
        assert!(!h.allows("http", "google.com", None));

        // `*` scheme has no default port.
        assert!(parse_err("*://example.com").contains("no known default port"));
        assert!(parse_err("tcp://example.com").contains("no known default port"));
        assert!(hosts(&["redis://cache"]).allows("redis", "cache", Some(6379)));
        assert!(hosts(&["postgres://db"]).allows("postgres", "db", None));
    }

    #[test]
    fn allow_all() {
        let h = hosts(&["*://*:*"]);
        assert!(h.allows_all());
        assert!(h.allows("https", "anything.example", Some(1)));
        assert!(h.allows("http", "10.1.2.3", None));
        assert!(h.allows("ftp", "x", None));
        assert!(!hosts(&["https://*:*"]).allows_all());
        let h = hosts(&["https://*"]);
        assert!(h.allows("https", "x.y", None));
        assert!(!h.allows("https", "x.y", Some(8443)));
        assert!(parse_err("insecure:allow-all").contains("*://*:*"));
    }

    #[test]
    fn ip_literals_and_ipv6() {
        let h = hosts(&["http://[::1]:8001", "http://[::1]", "http://192.168.1.1"]);
        assert!(h.allows("http", "[::1]", Some(8001)));
        assert!(h.allows("http", "::1", Some(8001)));
        assert!(h.allows("http", "[0:0:0:0:0:0:0:1]", Some(8001)));
        assert!(h.allows("http", "[::1]", None));
        assert!(h.allows("http", "192.168.1.1", None));
        assert!(!h.allows("http", "192.168.1.2", None));
        assert!(parse_err("http://::1").contains("brackets"));
        assert!(parse_err("http://[::1").contains("unterminated"));
        assert!(parse_err("http://[nope]:80").contains("not an IPv6 address"));
        assert!(parse_err("http://[::1]x").contains("after `]`"));
    }

    #[test]
    fn cidr_ranges() {
        let h = hosts(&[
            "*://127.0.0.1/24:63551",
            "http://10.0.0.0/8",
            "*://ff00::/8:80",
        ]);
        assert!(h.allows("tcp", "127.0.0.1", Some(63551)));
        assert!(h.allows("tcp", "127.0.0.254", Some(63551)));
        assert!(!h.allows("tcp", "127.0.1.1", Some(63551)));
        assert!(!h.allows("tcp", "127.0.0.1", Some(1)));
        assert!(h.allows("http", "10.200.3.4", None));
        assert!(!h.allows("http", "11.0.0.1", None));
        assert!(!h.allows("http", "ten.example", None));
        assert!(h.allows("https", "[ff01::1]", Some(80)));
        assert!(!h.allows("https", "fe00::1", Some(80)));
        assert!(parse_err("*://127.0.0.0/24").contains("no known default port"));
        assert!(parse_err("http://10.0.0.0/33").contains("CIDR"));
    }

    #[test]
    fn rejected_forms() {
        for (entry, needle) in [
            ("example.com", "does not contain a scheme"),
            ("example.com:443", "does not contain a scheme"),
            ("*", "not an allowed outbound host format"),
            ("", "not an allowed outbound host format"),
            ("https://example.com/api", "path"),
            ("https://example.com:443/api", "path"),
            ("https://*.example.com/a", "path"),
            ("http://self", "self"),
            ("http://self.alt", "self"),
            ("http://backend.spin.internal", "service chaining"),
            ("http://*.spin.internal", "service chaining"),
            ("h3ttp://x", "letters only"),
            ("://x", "letters only"),
            ("{http,https}://x", "scheme lists"),
            ("http://{a,b}", "host lists"),
            ("http://x:{80,81}", "port lists"),
            ("https://", "no host"),
            ("https://{{ host }}", "template"),
        ] {
            let e = parse_err(entry);
            assert!(e.contains(needle), "{entry:?}: {e}");
        }
    }

    #[test]
    fn entries_are_kept_as_written() {
        let h = hosts(&["https://Example.com", "*://*:*"]);
        assert_eq!(
            h.entries().collect::<Vec<_>>(),
            vec!["https://Example.com", "*://*:*"]
        );
    }
}
