//! Range requests answered from a stored full response (RFC 9110 §14): plain functions of the
//! request's `Range` and `If-Range` and the stored body's length and validators.

use super::control::parse_http_date;

/// Most ranges one request may ask for; more are answered with the whole body, which a server
/// may always do, rather than with a multipart answer made to exhaust it.
pub const MAX_RANGES: usize = 16;

/// What a `Range` asks of a body of a given length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// No usable `Range` (absent, another unit, malformed, too many): the whole body.
    Whole,
    /// These byte ranges, inclusive, in order, none overlapping or adjacent.
    Parts(Vec<(u64, u64)>),
    /// Nothing of the body: 416 with `Content-Range: bytes */length`.
    Unsatisfiable,
}

/// Reads `Range: bytes=…` against a body of `length` bytes. Overlapping and adjacent ranges are
/// merged; a malformed field is ignored, as RFC 9110 §14.2 lets a server do.
pub fn parse(range: Option<&str>, length: u64) -> Ranges {
    let Some(spec) = range.map(str::trim).and_then(|r| r.strip_prefix("bytes=")) else {
        return Ranges::Whole;
    };
    let mut parts = Vec::new();
    let mut asked = 0;
    for member in spec.split(',').map(str::trim) {
        asked += 1;
        if asked > MAX_RANGES * 4 {
            return Ranges::Whole;
        }
        let Some((first, last)) = member.split_once('-') else {
            return Ranges::Whole;
        };
        let number = |text: &str| {
            (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse::<u64>().ok())
                .flatten()
        };
        let part = match (first.trim(), last.trim()) {
            ("", suffix) => match number(suffix) {
                Some(0) => None,
                Some(n) => (length > 0).then(|| (length.saturating_sub(n), length - 1)),
                None => return Ranges::Whole,
            },
            (start, "") => match number(start) {
                Some(s) => (s < length).then(|| (s, length - 1)),
                None => return Ranges::Whole,
            },
            (start, end) => match (number(start), number(end)) {
                (Some(s), Some(e)) if s <= e => (s < length).then(|| (s, e.min(length - 1))),
                _ => return Ranges::Whole,
            },
        };
        parts.extend(part);
    }
    if parts.is_empty() {
        return Ranges::Unsatisfiable;
    }
    parts.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(parts.len());
    for (start, end) in parts {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    if merged.len() > MAX_RANGES {
        return Ranges::Whole;
    }
    Ranges::Parts(merged)
}

/// Whether `If-Range` lets the ranges apply (RFC 9110 §13.1.5): absent, a strong entity tag
/// equal to the stored one, or the stored `Last-Modified` exactly. Otherwise the whole body.
pub fn if_range_holds(if_range: Option<&str>, etag: Option<&str>, modified: Option<&str>) -> bool {
    let Some(condition) = if_range.map(str::trim) else {
        return true;
    };
    if condition.starts_with('"') || condition.starts_with("W/") {
        let strong = |tag: &str| !tag.starts_with("W/");
        return strong(condition) && etag.is_some_and(|e| strong(e) && e.trim() == condition);
    }
    match (
        parse_http_date(condition),
        modified.and_then(parse_http_date),
    ) {
        (Some(asked), Some(stored)) => asked == stored,
        _ => false,
    }
}

/// The body of a multipart/byteranges answer for `parts` of `body`, each part with its
/// `Content-Type` (when known) and `Content-Range`, separated by `boundary`.
pub fn multipart(
    body: &[u8],
    parts: &[(u64, u64)],
    content_type: Option<&str>,
    boundary: &str,
) -> Vec<u8> {
    let length = body.len();
    let mut out = Vec::new();
    for &(start, end) in parts {
        out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        if let Some(content_type) = content_type {
            out.extend_from_slice(format!("content-type: {content_type}\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!("content-range: bytes {start}-{end}/{length}\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(slice(body, start, end));
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// Bytes `start..=end` of `body` (within it: the ranges come from [`parse`] on its length).
pub fn slice(body: &[u8], start: u64, end: u64) -> &[u8] {
    let start = usize::try_from(start).unwrap_or(usize::MAX).min(body.len());
    let end = usize::try_from(end)
        .unwrap_or(usize::MAX)
        .saturating_add(1)
        .min(body.len());
    &body[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_suffix_open_and_clamped_ranges() {
        assert_eq!(parse(Some("bytes=0-9"), 100), Ranges::Parts(vec![(0, 9)]));
        assert_eq!(parse(Some("bytes=90-"), 100), Ranges::Parts(vec![(90, 99)]));
        assert_eq!(parse(Some("bytes=-10"), 100), Ranges::Parts(vec![(90, 99)]));
        assert_eq!(parse(Some("bytes=-500"), 100), Ranges::Parts(vec![(0, 99)]));
        assert_eq!(
            parse(Some("bytes=95-200"), 100),
            Ranges::Parts(vec![(95, 99)])
        );
        assert_eq!(parse(Some(" bytes=1-1 "), 100), Ranges::Parts(vec![(1, 1)]));
    }

    #[test]
    fn several_ranges_are_merged_when_they_touch() {
        assert_eq!(
            parse(Some("bytes=50-59, 0-9, 10-19, 55-70"), 100),
            Ranges::Parts(vec![(0, 19), (50, 70)])
        );
        let many: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 3, i * 3)).collect();
        assert_eq!(
            parse(Some(&format!("bytes={}", many.join(","))), 100),
            Ranges::Whole
        );
    }

    #[test]
    fn unsatisfiable_and_ignored_ranges() {
        assert_eq!(parse(Some("bytes=100-"), 100), Ranges::Unsatisfiable);
        assert_eq!(
            parse(Some("bytes=200-300, 150-"), 100),
            Ranges::Unsatisfiable
        );
        assert_eq!(parse(Some("bytes=-0"), 100), Ranges::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Ranges::Unsatisfiable);
        for ignored in [
            "items=0-1",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=",
            "bytes=1",
            "0-1",
        ] {
            assert_eq!(parse(Some(ignored), 100), Ranges::Whole, "{ignored}");
        }
        assert_eq!(parse(None, 100), Ranges::Whole);
    }

    #[test]
    fn if_range_needs_the_same_strong_validator() {
        assert!(if_range_holds(None, None, None));
        assert!(if_range_holds(Some("\"v1\""), Some("\"v1\""), None));
        assert!(!if_range_holds(Some("\"v1\""), Some("\"v2\""), None));
        assert!(!if_range_holds(Some("W/\"v1\""), Some("W/\"v1\""), None));
        assert!(!if_range_holds(Some("\"v1\""), Some("W/\"v1\""), None));
        let date = "Tue, 15 Nov 1994 12:45:26 GMT";
        assert!(if_range_holds(Some(date), None, Some(date)));
        assert!(!if_range_holds(
            Some("Tue, 15 Nov 1994 12:45:27 GMT"),
            None,
            Some(date)
        ));
        assert!(!if_range_holds(Some("yesterday"), None, Some(date)));
    }

    #[test]
    fn multipart_bodies_name_each_part() {
        let body = b"0123456789";
        let out = multipart(body, &[(0, 1), (8, 9)], Some("text/plain"), "B");
        let text = String::from_utf8(out).expect("ascii");
        assert_eq!(
            text,
            "\r\n--B\r\ncontent-type: text/plain\r\ncontent-range: bytes 0-1/10\r\n\r\n01\
             \r\n--B\r\ncontent-type: text/plain\r\ncontent-range: bytes 8-9/10\r\n\r\n89\r\n--B--\r\n"
        );
        assert_eq!(slice(body, 3, 5), b"345");
        assert_eq!(slice(body, 9, u64::MAX), b"9");
    }
}
