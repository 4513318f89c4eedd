//! UTC calendar arithmetic for budget periods and ledger days, without a date library:
//! the days ↔ civil date conversions of Howard Hinnant's `chrono`-compatible algorithms.

/// (year, month 1-12, day 1-31) of a day number (days since 1970-01-01).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    // d is in 1..=31 and m in 1..=12 by construction.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (y, m as u32, d as u32)
}

/// The day number of a civil date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days(unix_secs: u64) -> i64 {
    i64::try_from(unix_secs / 86_400).unwrap_or(i64::MAX / 2)
}

/// `2026-11-25`
pub fn day_string(unix_secs: u64) -> String {
    let (y, m, d) = civil_from_days(days(unix_secs));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-11`
pub fn month_string(unix_secs: u64) -> String {
    let (y, m, _) = civil_from_days(days(unix_secs));
    format!("{y:04}-{m:02}")
}

/// Unix seconds at which the UTC day containing `unix_secs` ends.
pub fn day_end(unix_secs: u64) -> u64 {
    (unix_secs / 86_400 + 1) * 86_400
}

/// Unix seconds at which the UTC month containing `unix_secs` ends.
pub fn month_end(unix_secs: u64) -> u64 {
    let (y, m, _) = civil_from_days(days(unix_secs));
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    u64::try_from(days_from_civil(ny, nm, 1)).unwrap_or(0) * 86_400
}

/// Parses `YYYY-MM-DD` into a day number.
pub fn parse_day(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    // Four-digit years only: a year near `i64::MAX` would overflow the day arithmetic.
    if parts.next().is_some()
        || !(0..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Reject dates like 2026-02-31 that normalise to another day.
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// `YYYY-MM-DD` of a day number.
pub fn day_from_number(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // 2015-08-30T12:36:00Z (the SigV4 test suite's date).
        assert_eq!(day_string(1_440_938_160), "2015-08-30");
        assert_eq!(month_string(1_440_938_160), "2015-08");
        assert_eq!(day_string(0), "1970-01-01");
        // 2024-02-29 (leap day) 23:59:59
        let leap = u64::try_from(days_from_civil(2024, 2, 29)).unwrap() * 86_400 + 86_399;
        assert_eq!(day_string(leap), "2024-02-29");
        assert_eq!(day_string(day_end(leap)), "2024-03-01");
        assert_eq!(month_string(month_end(leap)), "2024-03");
        assert_eq!(month_end(leap) % 86_400, 0);
    }

    #[test]
    fn month_end_rolls_the_year() {
        let dec = u64::try_from(days_from_civil(2026, 12, 15)).unwrap() * 86_400;
        assert_eq!(day_string(month_end(dec)), "2027-01-01");
    }

    #[test]
    fn parse_day_validates() {
        assert_eq!(parse_day("1970-01-02"), Some(1));
        assert_eq!(parse_day("2026-02-31"), None);
        assert_eq!(parse_day("2026-13-01"), None);
        assert_eq!(parse_day("yesterday"), None);
        let d = parse_day("2026-11-25").unwrap();
        assert_eq!(day_from_number(d), "2026-11-25");
    }
}
