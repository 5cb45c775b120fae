//! Times as RFC 3339 UTC text, without a calendar dependency.

/// `ms` (milliseconds since the Unix epoch) as `2026-12-02T00:50:00Z`.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// `ms` relative to `now`, e.g. `in 59m 58s`, `3h 2m ago`, or `now` within a second.
pub fn relative(ms: u64, now: u64) -> String {
    let (delta, future) = if ms >= now {
        (ms - now, true)
    } else {
        (now - ms, false)
    };
    let secs = delta / 1000;
    if secs == 0 {
        return "now".to_string();
    }
    let text = match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// Howard Hinnant's `civil_from_days`, for days since 1970-01-01 (never negative here).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_399_000), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn relative_times_say_which_way() {
        assert_eq!(relative(61_000, 0), "in 1m 1s");
        assert_eq!(relative(0, 7_200_000), "2h 0m ago");
        assert_eq!(relative(1_500, 1_000), "now");
        assert_eq!(relative(1_000, 1_999), "now");
    }
}
