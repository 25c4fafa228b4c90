//! Time helpers shared by the hot path and the engine: RFC 3339 in UTC, durations for humans.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last second RFC 3339's four-digit years can show: 9999-12-31T23:59:59Z.
pub const MAX_RFC3339: i64 = 253_402_300_799;

/// Formats epoch seconds as RFC 3339 UTC with a `Z`, e.g. `2026-11-21T22:17:50Z` (times
/// before the epoch clamp to it, times after [`MAX_RFC3339`] to that).
pub fn rfc3339(epoch: i64) -> String {
    // humantime's Display fails past the year 9999, and `to_string` would then panic.
    let secs = epoch.clamp(0, MAX_RFC3339) as u64;
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// Parses RFC 3339 (`Z` or a numeric offset, optional fraction) to seconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - offset)
}

// Howard Hinnant's days_from_civil.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Seconds since the epoch, now.
pub fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Epoch seconds as the local wall-clock time for a person, e.g. `17:42 CET` (today) or
/// `2026-12-08 09:05 CET`; `None` when the C library cannot convert it (the time zone comes from
/// `TZ` and `/etc/localtime`, as for `date`).
pub fn local_clock(epoch: i64, now: i64) -> Option<String> {
    fn tm_of(t: i64) -> Option<libc::tm> {
        let t = libc::time_t::try_from(t).ok()?;
        // SAFETY: localtime_r writes only into the tm we pass; a zeroed tm is a valid value.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::localtime_r(&t, &mut tm) };
        (!r.is_null()).then_some(tm)
    }
    let tm = tm_of(epoch)?;
    let today = tm_of(now)?;
    let zone = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: tm_zone points at a NUL-terminated name owned by the C library.
        let z = unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }.to_string_lossy();
        z.chars()
            .filter(|c| c.is_ascii_graphic())
            .take(16)
            .collect()
    };
    let clock = format!("{:02}:{:02}", tm.tm_hour, tm.tm_min);
    let when = if (tm.tm_year, tm.tm_yday) == (today.tm_year, today.tm_yday) {
        clock
    } else {
        format!(
            "{:04}-{:02}-{:02} {clock}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday
        )
    };
    Some(if zone.is_empty() {
        when
    } else {
        format!("{when} {zone}")
    })
}

/// A compact remaining-time text: `3h12m`, `42m`, `59s`.
pub fn remaining(secs: i64) -> String {
    if secs >= 3600 {
        let m = (secs % 3600) / 60;
        if m == 0 {
            format!("{}h", secs / 3600)
        } else {
            format!("{}h{}m", secs / 3600, m)
        }
    } else if secs >= 60 {
        format!("{}m", secs / 60)
    } else {
        format!("{}s", secs.max(0))
    }
}

/// A duration in the one format awsenv shows durations in ([`remaining`]: `7h59m`, `14m`).
pub fn human(d: Duration) -> String {
    remaining(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Parses a duration setting: whole seconds (`3600`) or humantime (`8h`, `15m`, `1h30m`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Some(Duration::from_secs(n));
    }
    humantime::parse_duration(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_clock_shows_the_time_and_the_date_when_not_today() {
        // The test process's zone is whatever the machine has; UTC makes it exact.
        // SAFETY: tests in this module do not read TZ concurrently.
        unsafe { std::env::set_var("TZ", "UTC") };
        let now = 1_796_644_800; // 2026-12-07T12:00:00Z
        assert_eq!(local_clock(now + 3600, now).as_deref(), Some("13:00 UTC"));
        assert_eq!(
            local_clock(now + 86_400, now).as_deref(),
            Some("2026-12-08 12:00 UTC")
        );
    }

    #[test]
    fn round_trip() {
        let s = rfc3339(1_800_000_000);
        assert_eq!(s, "2027-01-15T08:00:00Z");
        assert_eq!(parse_rfc3339(&s), Some(1_800_000_000));
    }

    #[test]
    fn times_past_the_year_9999_clamp_instead_of_panicking() {
        // Found by fuzz/fuzz_targets/rfc3339.rs: `rfc3339(i64::MAX)` panicked ("a Display
        // implementation returned an error unexpectedly").
        assert_eq!(rfc3339(MAX_RFC3339), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(MAX_RFC3339 + 1), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(i64::MIN), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn offsets_and_fractions() {
        assert_eq!(
            parse_rfc3339("2027-01-15T09:00:00.123+01:00"),
            Some(1_800_000_000)
        );
        assert_eq!(parse_rfc3339("2027-01-15 08:00:00"), None);
    }

    #[test]
    fn remaining_text() {
        assert_eq!(remaining(42 * 60 + 5), "42m");
        assert_eq!(remaining(3 * 3600 + 12 * 60), "3h12m");
        assert_eq!(remaining(7200), "2h");
        assert_eq!(remaining(9), "9s");
    }
}
