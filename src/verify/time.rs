//! Time conversions: DER times, RFC 3339 text. No clock is read here.

use std::time::Duration;

use rustls_pki_types::UnixTime;

use super::der::Tlv;

/// Parses a DER UTCTime (tag 0x17, `YYMMDDHHMMSSZ`) or GeneralizedTime (tag 0x18,
/// `YYYYMMDDHHMMSSZ`), as RFC 5280 §4.1.2.5 profiles them.
pub(crate) fn parse_der_time(tlv: Tlv<'_>) -> Option<UnixTime> {
    let digits = tlv.value.strip_suffix(b"Z")?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        digits.get(range)?.iter().try_fold(0u64, |acc, d| {
            acc.checked_mul(10)?
                .checked_add(u64::from(d.checked_sub(b'0')?))
        })
    };
    let (year, rest) = match (tlv.tag, digits.len()) {
        (0x17, 12) => {
            let yy = num(0..2)?;
            // RFC 5280: YY >= 50 is 19YY, otherwise 20YY.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (0x18, 14) => (num(0..4)?, 4),
        _ => return None,
    };
    let month = num(rest..rest + 2)?;
    let day = num(rest + 2..rest + 4)?;
    let hour = num(rest + 4..rest + 6)?;
    let minute = num(rest + 6..rest + 8)?;
    let second = num(rest + 8..rest + 10)?;
    let days = days_from_civil(year, month, day)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let secs = days
        .checked_mul(86_400)?
        .checked_add(hour * 3600 + minute * 60 + second)?;
    Some(UnixTime::since_unix_epoch(Duration::from_secs(secs)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date from 1970 on.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    if !(1..=12).contains(&month) || year < 1970 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let month_index = usize::try_from(month.checked_sub(1)?).ok()?;
    if day == 0 || day > *month_days.get(month_index)? {
        return None;
    }
    let before_year: u64 = (1970..year)
        .map(|y| {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                366
            } else {
                365
            }
        })
        .sum();
    let before_month: u64 = month_days.iter().take(month_index).sum();
    Some(before_year + before_month + day - 1)
}

/// Parses an RFC 3339 timestamp such as `2026-06-01T00:00:00Z`.
///
/// # Errors
///
/// Returns the parser's message, or one saying the time is before 1970.
pub fn parse_rfc3339(text: &str) -> Result<UnixTime, String> {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time ({e}): {text:?}"))?;
    let secs =
        u64::try_from(at.unix_timestamp()).map_err(|_| format!("time before 1970: {text:?}"))?;
    Ok(UnixTime::since_unix_epoch(Duration::from_secs(secs)))
}

/// Formats `time` as RFC 3339 in UTC (`2026-06-01T00:00:00Z`).
pub fn format_rfc3339(time: UnixTime) -> String {
    i64::try_from(time.as_secs())
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{}", time.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, value: &[u8]) -> Tlv<'_> {
        Tlv {
            tag,
            value,
            whole: value,
        }
    }

    #[test]
    fn parses_utc_and_generalized_times() {
        let t = parse_der_time(tlv(0x17, b"260601000000Z")).unwrap();
        assert_eq!(t.as_secs(), 1_780_272_000);
        let t = parse_der_time(tlv(0x18, b"20260601000000Z")).unwrap();
        assert_eq!(t.as_secs(), 1_780_272_000);
        assert_eq!(
            parse_der_time(tlv(0x17, b"700101000000Z"))
                .unwrap()
                .as_secs(),
            0
        );
        assert!(parse_der_time(tlv(0x17, b"260231000000Z")).is_none());
        assert!(parse_der_time(tlv(0x17, b"2606010000Z")).is_none());
        assert!(parse_der_time(tlv(0x18, b"20260601000000")).is_none());
    }

    #[test]
    fn rfc3339_round_trips() {
        let t = parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        assert_eq!(t.as_secs(), 1_780_272_000);
        assert_eq!(format_rfc3339(t), "2026-06-01T00:00:00Z");
        assert!(parse_rfc3339("1969-12-31T23:59:59Z").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
