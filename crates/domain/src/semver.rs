//! Version numbers of prompt versions (DESIGN.md §1): `MAJOR.MINOR.PATCH`.
//!
//! The first save of a prompt is `1.0.0`. Every later save bumps the minor
//! (`1.3.0` → `1.4.0`), unless it breaks the variable schema
//! ([`crate::variables::is_breaking`]), which bumps the major (`1.4.0` →
//! `2.0.0`). Saves never produce a patch bump; the patch component exists so
//! numbers read as ordinary semver and stay open for later use.
//!
//! Only the plain `N.N.N` form is supported: no `v` prefix, pre-release or
//! build metadata, and no leading zeros (as in semver), so each version has
//! exactly one spelling and string equality is version equality.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::variables::{VariableSpec, is_breaking};

/// A version number. Ordered numerically by major, then minor, then patch
/// (so `1.10.0` > `1.9.0`). Serialized as its string form, e.g. `"1.0.0"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// Bumped by a save that breaks the variable schema.
    pub major: u64,
    /// Bumped by every other save.
    pub minor: u64,
    /// Not bumped by saves; always 0 for versions PromptHelm creates.
    pub patch: u64,
}

impl Version {
    /// The version of a prompt's first save.
    pub const FIRST: Version = Version::new(1, 0, 0);

    /// Builds a version from its components.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parses `MAJOR.MINOR.PATCH`, e.g. `1.0.0` (see the module docs for the
    /// accepted form).
    pub fn parse(s: &str) -> Result<Version, String> {
        let invalid = || format!("invalid version {s:?}: expected MAJOR.MINOR.PATCH, e.g. 1.0.0");
        let mut parts = s.split('.');
        let mut next = || -> Result<u64, String> {
            let part = parts.next().ok_or_else(invalid)?;
            let well_formed = !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'));
            if !well_formed {
                return Err(invalid());
            }
            part.parse().map_err(|_| invalid())
        };
        let version = Version::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(version)
    }

    /// The next major version: `major + 1`, minor and patch reset to 0.
    pub fn bump_major(&self) -> Version {
        Version::new(self.major.saturating_add(1), 0, 0)
    }

    /// The next minor version: `minor + 1`, patch reset to 0.
    pub fn bump_minor(&self) -> Version {
        Version::new(self.major, self.minor.saturating_add(1), 0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Version {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Version::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The number of a new save, given the prompt's previous version (its number
/// and variable schema) if there is one, and the new save's schema:
///
/// - no previous version: `1.0.0`;
/// - the schema change is breaking ([`is_breaking`]): major + 1, minor and
///   patch 0;
/// - otherwise: minor + 1, patch 0.
///
/// `previous` must be the prompt's highest version (the newest save): numbers
/// only go up, so the caller compares against the latest, not against
/// production.
pub fn next_version(
    previous: Option<(&Version, &[VariableSpec])>,
    new_schema: &[VariableSpec],
) -> Version {
    match previous {
        None => Version::FIRST,
        Some((version, old_schema)) if is_breaking(old_schema, new_schema) => version.bump_major(),
        Some((version, _)) => version.bump_minor(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::VariableKind::String as Str;
    use crate::variables::spec;

    #[test]
    fn parses_and_displays() {
        for s in [
            "1.0.0",
            "0.0.0",
            "2.13.7",
            "10.0.100",
            "18446744073709551615.0.0",
        ] {
            assert_eq!(Version::parse(s).unwrap().to_string(), s);
        }
        assert_eq!("3.4.5".parse::<Version>(), Ok(Version::new(3, 4, 5)));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "1",
            "1.0",
            "1.0.0.0",
            "v1.0.0",
            "1.0.0-beta",
            "1.0.0+b",
            "01.0.0",
            "1.00.0",
            "1..0",
            " 1.0.0",
            "1.0.0 ",
            "-1.0.0",
            "a.b.c",
            "18446744073709551616.0.0",
            "1.0.",
        ] {
            let err = Version::parse(bad).unwrap_err();
            assert!(err.contains("MAJOR.MINOR.PATCH"), "{bad}: {err}");
        }
    }

    #[test]
    fn orders_numerically() {
        let v = |s: &str| Version::parse(s).unwrap();
        assert!(v("1.10.0") > v("1.9.0"));
        assert!(v("2.0.0") > v("1.99.99"));
        assert!(v("1.0.1") > v("1.0.0"));
        let mut list = [v("1.10.0"), v("2.0.0"), v("1.2.0"), v("1.0.0")];
        list.sort();
        let sorted: Vec<String> = list.iter().map(Version::to_string).collect();
        assert_eq!(sorted, ["1.0.0", "1.2.0", "1.10.0", "2.0.0"]);
    }

    #[test]
    fn serializes_as_string() {
        let v = Version::new(1, 2, 0);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#""1.2.0""#);
        assert_eq!(serde_json::from_str::<Version>(r#""1.2.0""#).unwrap(), v);
        assert!(serde_json::from_str::<Version>(r#""1.2""#).is_err());
        assert!(serde_json::from_str::<Version>("1").is_err());
    }

    #[test]
    fn first_save_is_1_0_0() {
        assert_eq!(next_version(None, &[]), Version::new(1, 0, 0));
        assert_eq!(
            next_version(None, &[spec("a", Str, true, None)]),
            Version::FIRST
        );
    }

    #[test]
    fn compatible_save_bumps_minor_and_resets_patch() {
        let schema = vec![spec("a", Str, true, None)];
        let prev = Version::new(1, 3, 2);
        assert_eq!(
            next_version(Some((&prev, &schema)), &schema),
            Version::new(1, 4, 0)
        );
        let with_optional = vec![schema[0].clone(), spec("b", Str, false, None)];
        assert_eq!(
            next_version(Some((&prev, &schema)), &with_optional),
            Version::new(1, 4, 0)
        );
    }

    #[test]
    fn breaking_save_bumps_major_and_resets_minor_and_patch() {
        let schema = vec![spec("a", Str, true, None)];
        let prev = Version::new(1, 4, 1);
        assert_eq!(
            next_version(Some((&prev, &schema)), &[]),
            Version::new(2, 0, 0)
        );
        let with_required = vec![schema[0].clone(), spec("b", Str, true, None)];
        assert_eq!(
            next_version(Some((&prev, &schema)), &with_required),
            Version::new(2, 0, 0)
        );
    }
}
