//! Reading the HTTP fields caching depends on: `Cache-Control` directives and HTTP dates.

/// Parsed `Cache-Control` directives (RFC 9111 §5.2): lower-case names, unquoted values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives(Vec<(String, Option<String>)>);

impl Directives {
    /// Parses every `Cache-Control` value given (a field may be sent more than once).
    /// Malformed members are skipped rather than failing the request.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut directives = Vec::new();
        for value in values {
            for member in split_members(value) {
                let (name, argument) = match member.split_once('=') {
                    Some((name, argument)) => (name, Some(unquote(argument.trim()))),
                    None => (member, None),
                };
                let name = name.trim().to_ascii_lowercase();
                if !name.is_empty() {
                    directives.push((name, argument));
                }
            }
        }
        Self(directives)
    }

    /// Whether the directive is present, with or without an argument.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// A directive's argument as seconds. A malformed or absent argument gives `None`; a value
    /// too large to hold is clamped, as RFC 9111 §1.2.2 asks.
    pub fn seconds(&self, name: &str) -> Option<u64> {
        let (_, argument) = self.0.iter().find(|(n, _)| n == name)?;
        let digits = argument.as_deref()?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(
            digits
                .parse::<u64>()
                .unwrap_or(u64::MAX)
                .min(MAX_DELTA_SECONDS),
        )
    }

    /// `max-stale` may come without a value, meaning any staleness.
    pub fn max_stale(&self) -> Option<u64> {
        if !self.has("max-stale") {
            return None;
        }
        Some(self.seconds("max-stale").unwrap_or(MAX_DELTA_SECONDS))
    }
}

/// The largest delta-seconds the cache distinguishes (2^31, per RFC 9111 §1.2.2).
pub const MAX_DELTA_SECONDS: u64 = 2_147_483_648;

/// Splits on commas that are not inside a quoted string.
fn split_members(value: &str) -> Vec<&str> {
    let mut members = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                members.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    members.push(value[start..].trim());
    members.into_iter().filter(|m| !m.is_empty()).collect()
}

fn unquote(argument: &str) -> String {
    match argument
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => argument.to_string(),
    }
}

/// An HTTP date as milliseconds since the epoch, in any of the three formats recipients must
/// accept (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT`
/// and `Sun Nov  6 08:49:37 1994`. Callers treat an unreadable date as absent or, for
/// `Expires`, as already past (RFC 9111 §5.3).
pub fn parse_http_date(value: &str) -> Option<f64> {
    let value = value.trim();
    // Fields have fixed widths: `6` for an hour or a day of an IMF date is not a date.
    let width = |text: &str, digits: usize| text.len() == digits;
    let (day, month, year, time) = match value.split_once(", ") {
        Some((_, rest)) => match rest.split(' ').collect::<Vec<_>>().as_slice() {
            [day, month, year, time, "GMT"] if width(day, 2) && width(year, 4) => {
                (*day, *month, number(year)?, *time)
            }
            [date, time, "GMT"] => {
                let mut parts = date.split('-');
                let (day, month, short) = (parts.next()?, parts.next()?, parts.next()?);
                if parts.next().is_some() || !width(short, 2) || !width(day, 2) {
                    return None;
                }
                // Two-digit years: RFC 9110 reads them as the nearest past century.
                let short = number(short)?;
                (
                    day,
                    month,
                    if short < 70 {
                        2000 + short
                    } else {
                        1900 + short
                    },
                    *time,
                )
            }
            _ => return None,
        },
        None => match value.split_whitespace().collect::<Vec<_>>().as_slice() {
            // asctime pads a one-digit day with a space, which the split has removed.
            [_, month, day, time, year] if day.len() <= 2 && width(year, 4) => {
                (*day, *month, number(year)?, *time)
            }
            _ => return None,
        },
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let day = number(day)?;
    let clock_digits = time.len() == 8 && time.split(':').all(|part| part.len() == 2);
    if !clock_digits {
        return None;
    }
    let mut clock = time.split(':').map(number);
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if clock.next().is_some() || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3_600 + minute * 60 + second) * 1000) as f64)
}

fn number(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The members of a comma-separated list field (`Vary`, `If-None-Match`, `Cache-Tag`), trimmed.
pub fn list_members(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_are_read_case_insensitively_with_quoted_arguments() {
        let d = Directives::parse([
            "Public, MAX-AGE=60, s-maxage=\"120\"",
            "private=\"set-cookie, x-user\", max-stale",
        ]);
        assert!(d.has("public"));
        assert_eq!(d.seconds("max-age"), Some(60));
        assert_eq!(d.seconds("s-maxage"), Some(120));
        assert!(d.has("private"));
        assert_eq!(d.max_stale(), Some(MAX_DELTA_SECONDS));
        assert!(!d.has("x-user\""), "a comma inside quotes does not split");
    }

    #[test]
    fn malformed_seconds_are_ignored_and_huge_ones_clamped() {
        let d =
            Directives::parse(["max-age=-5, s-maxage=1e3, stale-if-error=99999999999999999999"]);
        assert_eq!(d.seconds("max-age"), None);
        assert_eq!(d.seconds("s-maxage"), None);
        assert_eq!(d.seconds("stale-if-error"), Some(MAX_DELTA_SECONDS));
        assert_eq!(Directives::parse([",, ,"]), Directives::default());
    }

    #[test]
    fn http_dates_are_read_in_all_three_formats() {
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(text), Some(784_111_777_000.0), "{text}");
        }
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0.0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599_000.0)
        );
        for bad in [
            "0",
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, -6 Nov 1994 08:49:37 GMT",
            "Thu, 01 Dec 1994 6:00:00 GMT",
            "Thu, 1 Dec 1994 16:00:00 GMT",
            "Thu, 01 Dec 94 16:00:00 GMT",
            "Thu, 01 Dec 1994 16:0:00 GMT",
            "Thursday, 1-Dec-94 16:00:00 GMT",
            "Thu Dec  1 6:00:00 1994",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
