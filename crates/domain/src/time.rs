//! Timestamps as they appear on the wire: RFC 3339, UTC, milliseconds,
//! `Z` suffix, e.g. `2026-11-24T10:00:00.123Z`.
//!
//! The caller reads the clock; this module only formats and parses.

/// Formats milliseconds since the Unix epoch (may be negative) as
/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
///
/// Years outside 0..=9999 are formatted with as many digits as they need
/// (and a `-` sign before year 0); RFC 3339 itself only covers 0000..9999.
pub fn rfc3339_millis(unix_millis: i64) -> String {
    let secs = unix_millis.div_euclid(1000);
    let millis = unix_millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let secs_of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60,
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month,
/// day). Howard Hinnant's `civil_from_days`
/// (<https://howardhinnant.github.io/date_algorithms.html#civil_from_days>):
/// shift to eras of 400 years starting on 0000-03-01 so leap days fall at the
/// end of each year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of (March-based) year, [0, 365]
    let mp = (5 * doy + 2) / 153; // March-based month, [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parses a timestamp a client sends (query filters such as `from`/`to`)
/// into milliseconds since the Unix epoch: RFC 3339 with any offset and
/// fractional seconds (`2026-11-24T10:00:00Z`, `2026-11-24T11:00:00.5+01:00`),
/// or a bare date (`2026-11-24`, meaning its midnight UTC). Sub-millisecond
/// digits are truncated.
pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let invalid = || {
        format!(
            "{s:?} is not a timestamp; use RFC 3339 (2026-11-24T10:00:00Z) or a date (2026-11-24)"
        )
    };
    let instant = match time::OffsetDateTime::parse(s, &Rfc3339) {
        Ok(t) => t,
        Err(_) => time::Date::parse(s, format_description!("[year]-[month]-[day]"))
            .map_err(|_| invalid())?
            .midnight()
            .assume_utc(),
    };
    i64::try_from(instant.unix_timestamp_nanos().div_euclid(1_000_000)).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_dates() {
        assert_eq!(
            parse_timestamp("2026-11-24T10:00:00.123Z"),
            Ok(1_795_514_400_123)
        );
        assert_eq!(
            parse_timestamp("2026-11-24T11:00:00.1239+01:00"),
            Ok(1_795_514_400_123)
        );
        assert_eq!(
            parse_timestamp("2026-11-24T10:00:00Z"),
            Ok(1_795_514_400_000)
        );
        assert_eq!(parse_timestamp("2026-11-24"), Ok(1_795_478_400_000));
        assert_eq!(parse_timestamp("1969-12-31T23:59:59.999Z"), Ok(-1));
        for s in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-24T25:00:00Z",
            "1795514400",
        ] {
            let err = parse_timestamp(s).unwrap_err();
            assert!(err.contains("RFC 3339"), "{s}: {err}");
        }
        let t = 1_795_514_400_123;
        assert_eq!(parse_timestamp(&rfc3339_millis(t)), Ok(t));
    }

    const DAY_MS: i64 = 86_400_000;

    #[test]
    fn epoch() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn known_instants() {
        // date -u -d @1795514400 => Tue Nov 24 10:00:00 UTC 2026
        assert_eq!(
            rfc3339_millis(1_795_514_400_123),
            "2026-11-24T10:00:00.123Z"
        );
        assert_eq!(
            rfc3339_millis(1_000_000_000_000),
            "2001-09-09T01:46:40.000Z"
        );
        assert_eq!(
            rfc3339_millis(1_234_567_890_999),
            "2009-02-13T23:31:30.999Z"
        );
        assert_eq!(
            rfc3339_millis(2_147_483_647_000),
            "2038-01-19T03:14:07.000Z"
        );
        assert_eq!(
            rfc3339_millis(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn leap_years() {
        // 2024-02-29 is day 19782 since the epoch.
        assert_eq!(rfc3339_millis(19_782 * DAY_MS), "2024-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_millis(19_783 * DAY_MS), "2024-03-01T00:00:00.000Z");
        // 2000 is a leap year (divisible by 400): 2000-02-29 is day 11016.
        assert_eq!(rfc3339_millis(11_016 * DAY_MS), "2000-02-29T00:00:00.000Z");
        // 2100 is not (divisible by 100, not 400): Feb 28 is followed by Mar 1.
        // 2100-02-28 is day 47540.
        assert_eq!(rfc3339_millis(47_540 * DAY_MS), "2100-02-28T00:00:00.000Z");
        assert_eq!(rfc3339_millis(47_541 * DAY_MS), "2100-03-01T00:00:00.000Z");
        // 2023 ends the day before 2024-01-01 (day 19723); 2024-12-31 is day 366 of 2024.
        assert_eq!(
            rfc3339_millis(19_723 * DAY_MS - 1),
            "2023-12-31T23:59:59.999Z"
        );
        assert_eq!(rfc3339_millis(20_088 * DAY_MS), "2024-12-31T00:00:00.000Z");
    }

    #[test]
    fn before_the_epoch() {
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_millis(-DAY_MS), "1969-12-31T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(-2_208_988_800_000),
            "1900-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn every_day_for_a_few_centuries_is_consistent() {
        // Walk day by day from 1899-12-31 and check against a naive calendar.
        let mut days = -25_568_i64; // 1900-01-01 is -25567
        let (mut y, mut m, mut d) = (1899_i64, 12_u32, 31_u32);
        for _ in 0..(400 * 366) {
            days += 1;
            d += 1;
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let month_len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            if d > month_len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
        }
    }
}
