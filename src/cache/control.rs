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

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) as milliseconds since the epoch. The obsolete
/// formats are not accepted; callers treat an unreadable date as absent or, for `Expires`, as
/// already past (RFC 9111 §5.3).
pub fn parse_http_date(value: &str) -> Option<f64> {
    let parsed = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    Some(parsed.timestamp_millis() as f64)
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
    fn http_dates_are_read_in_the_current_format_only() {
        let ms = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert_eq!(ms, 784_111_777_000.0);
        assert_eq!(parse_http_date("0"), None);
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    }
}
