//! What a value looks like once an attacker's encodings are undone: percent-encoding (applied
//! again and again), `%uXXXX`, overlong UTF-8, HTML entities and JavaScript escapes, then case,
//! whitespace and NUL folded. Each step also says what it found odd, which the protocol rules
//! score.

/// Anomalies met while decoding one value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Oddities {
    /// A `%` not followed by two hex digits (nor `u` and four).
    pub bad_percent: bool,
    /// Percent-encoding that still decoded after the first pass (`%252e`).
    pub multiple_encoding: bool,
    /// Overlong UTF-8 (`%c0%af`), the classic way to hide `/` and `.`.
    pub overlong: bool,
    /// Bytes that are not UTF-8 at all.
    pub invalid_utf8: bool,
    pub nul: bool,
    /// CR or LF: header or log injection in a value that should hold neither.
    pub line_break: bool,
    /// Other control characters.
    pub control: bool,
}

/// Which ASCII bytes a value holds, found in one pass so each detector can skip a value that
/// lacks every character its payloads need.
#[derive(Debug, Clone, Copy, Default)]
pub struct Present(u128);

impl Present {
    pub fn of(text: &str) -> Self {
        let mut bits = 0u128;
        for b in text.bytes().filter(u8::is_ascii) {
            bits |= 1 << b;
        }
        Present(bits)
    }

    /// Whether any of `bytes` (ASCII) is in the value.
    pub fn any(self, bytes: &[u8]) -> bool {
        bytes.iter().any(|b| b.is_ascii() && self.0 & (1 << b) != 0)
    }
}

/// Whether `text` holds any of `needles`.
pub fn contains_any(text: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| text.contains(n))
}

/// Whether the folded value holds one of `list` as a whole word (letters, digits and `_`):
/// the cheap test that decides whether a family of longer patterns is worth looking for.
pub fn has_word(folded: &str, list: &[&str]) -> bool {
    folded
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| !w.is_empty() && list.contains(&w))
}

/// Whether a call of one of `names` appears: the name as a whole word, then `(` (or one of
/// `also`, such as a backtick), spaces allowed between.
pub fn calls(folded: &str, names: &[&str], also: &[u8]) -> bool {
    let bytes = folded.as_bytes();
    bytes.iter().enumerate().any(|(at, b)| {
        if *b != b'(' && !also.contains(b) {
            return false;
        }
        let before = folded[..at].trim_end();
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        // `obj.system(` is a method, not PHP's function.
        let method = before[..start].ends_with('.');
        !word.is_empty() && !method && names.contains(&word)
    })
}

/// How many times percent-encoding is undone: enough for the double and triple encodings
/// scanners try, bounded so a value cannot make the work grow.
const DECODE_PASSES: usize = 3;

/// The value with every encoding undone (case kept), and what was odd about it. `plus_space`
/// reads `+` as a space, as query strings and forms do.
pub fn decode(raw: &str, plus_space: bool) -> (String, Oddities) {
    let mut odd = Oddities::default();
    // Nothing to undo: only the characters need checking.
    if !(raw.contains(['%', '\\', '&']) || plus_space && raw.contains('+')) {
        control_characters(raw, &mut odd);
        return (raw.to_string(), odd);
    }
    let mut text = if plus_space && raw.contains('+') {
        raw.replace('+', " ")
    } else {
        raw.to_string()
    };
    for pass in 0..DECODE_PASSES {
        if !text.contains('%') {
            break;
        }
        let (bytes, changed, bad) = percent_decode(&text);
        odd.bad_percent |= bad && pass == 0;
        if !changed {
            break;
        }
        odd.multiple_encoding |= pass > 0;
        text = utf8(bytes, &mut odd);
    }
    if text.contains('\\') {
        text = unescape_js(&text);
    }
    if text.contains('&') {
        text = html_entities(&text);
    }
    control_characters(&text, &mut odd);
    (text, odd)
}

fn control_characters(text: &str, odd: &mut Oddities) {
    for c in text.chars().filter(|c| c.is_control()) {
        match c {
            '\0' => odd.nul = true,
            '\r' | '\n' => odd.line_break = true,
            '\t' => {}
            _ => odd.control = true,
        }
    }
}

/// Lower case, NUL removed, every run of whitespace and control characters one space: the
/// form the detectors read.
pub fn fold(decoded: &str) -> String {
    let mut out = String::with_capacity(decoded.len());
    let mut space = false;
    for c in decoded.chars() {
        if c == '\0' {
            continue;
        }
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// Backslashes as slashes and runs of slashes as one, so `..\` and `.//.` read like `../`.
pub fn slashes(text: &str) -> String {
    if !text.contains('\\') && !text.contains("//") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c == '\\' { '/' } else { c };
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// A path with its `.` and `..` segments resolved (never above the root), for the restricted
/// file names: `/a/./.git/../.git/config` is `/a/.git/config`.
pub fn resolve_dots(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in segments {
        out.push('/');
        out.push_str(s);
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One pass of percent-decoding (`%XX` and IIS's `%uXXXX`): the bytes, whether anything
/// decoded, and whether a `%` was malformed.
fn percent_decode(text: &str) -> (Vec<u8>, bool, bool) {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let (mut changed, mut bad) = (false, false);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let at = |k: usize| bytes.get(i + k).copied().and_then(hex);
        if let (Some(h), Some(l)) = (at(1), at(2)) {
            out.push(h * 16 + l);
            changed = true;
            i += 3;
            continue;
        }
        if matches!(bytes.get(i + 1), Some(b'u' | b'U')) {
            let digits: Option<Vec<u8>> = (2..6).map(at).collect();
            if let Some(d) = digits {
                let code = d.iter().fold(0u32, |acc, &v| acc * 16 + u32::from(v));
                let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                changed = true;
                i += 6;
                continue;
            }
        }
        bad = true;
        out.push(b'%');
        i += 1;
    }
    (out, changed, bad)
}

/// Bytes as text: overlong two-byte forms of ASCII read as the ASCII they hide (and noted),
/// other invalid UTF-8 replaced (and noted).
fn utf8(bytes: Vec<u8>, odd: &mut Oddities) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let bytes = error.into_bytes();
            let mut fixed = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                let b = bytes[i];
                let next = bytes.get(i + 1).copied().unwrap_or(0);
                if (b == 0xc0 || b == 0xc1) && next & 0xc0 == 0x80 {
                    fixed.push(((b & 0x1f) << 6) | (next & 0x3f));
                    odd.overlong = true;
                    i += 2;
                    continue;
                }
                if b == 0xe0 && next & 0xe0 == 0x80 {
                    if let Some(third) = bytes.get(i + 2).filter(|t| *t & 0xc0 == 0x80) {
                        fixed.push(((next & 0x3f) << 6) | (third & 0x3f));
                        odd.overlong = true;
                        i += 3;
                        continue;
                    }
                }
                fixed.push(b);
                i += 1;
            }
            match String::from_utf8(fixed) {
                Ok(text) => text,
                Err(error) => {
                    odd.invalid_utf8 = true;
                    String::from_utf8_lossy(error.as_bytes()).into_owned()
                }
            }
        }
    }
}

/// JavaScript and CSS escapes: `\uXXXX`, `\u{X…}` and `\xHH`; any other backslash stays.
fn unescape_js(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let digits = |from: usize, n: usize| -> Option<u32> {
        let s: String = chars.get(from..from + n)?.iter().collect();
        u32::from_str_radix(&s, 16).ok()
    };
    while i < chars.len() {
        let c = chars[i];
        // The escaped code point and how many characters its escape spans.
        let escape = match (c, chars.get(i + 1), chars.get(i + 2)) {
            ('\\', Some('u'), Some('{')) => chars[i + 3..]
                .iter()
                .take(7)
                .position(|c| *c == '}')
                .and_then(|n| digits(i + 3, n).map(|v| (v, 4 + n))),
            ('\\', Some('u'), _) => digits(i + 2, 4).map(|v| (v, 6)),
            ('\\', Some('x'), _) => digits(i + 2, 2).map(|v| (v, 4)),
            _ => None,
        };
        match escape {
            Some((v, spans)) => {
                out.push(char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER));
                i += spans;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Named entities a payload needs, and numeric ones (`&#60;`, `&#x3c`), with or without `;`.
fn html_entities(text: &str) -> String {
    const NAMED: &[(&str, char)] = &[
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("amp", '&'),
        ("colon", ':'),
        ("lpar", '('),
        ("rpar", ')'),
        ("sol", '/'),
        ("bsol", '\\'),
        ("semi", ';'),
        ("equals", '='),
        ("grave", '`'),
        ("tab", '\t'),
        ("newline", '\n'),
        ("nbsp", ' '),
        ("period", '.'),
        ("comma", ','),
        ("excl", '!'),
        ("num", '#'),
        ("percnt", '%'),
        ("plus", '+'),
        ("lsqb", '['),
        ("rsqb", ']'),
        ("lcub", '{'),
        ("rcub", '}'),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let decoded = if let Some(number) = after.strip_prefix('#') {
            let (radix, digits) = match number.strip_prefix(['x', 'X']) {
                Some(hex) => (16, hex),
                None => (10, number),
            };
            let len = digits
                .bytes()
                .take(8)
                .take_while(|b| b.is_ascii_hexdigit() && (radix == 16 || b.is_ascii_digit()))
                .count();
            u32::from_str_radix(&digits[..len], radix)
                .ok()
                .map(|v| {
                    let used = after.len() - digits.len() + len;
                    let used = used + usize::from(after[used..].starts_with(';'));
                    (
                        char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER),
                        used,
                    )
                })
                .filter(|_| len > 0)
        } else {
            let len = after
                .bytes()
                .take(8)
                .take_while(u8::is_ascii_alphabetic)
                .count();
            let name = after[..len].to_ascii_lowercase();
            NAMED
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| (*c, len + usize::from(after[len..].starts_with(';'))))
        };
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &after[used..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_undone_and_noted() {
        assert_eq!(decode("%253Cscript%253E", false).0, "<script>");
        assert!(decode("%253Cscript%253E", false).1.multiple_encoding);
        assert!(!decode("%3Cscript%3E", false).1.multiple_encoding);
        assert_eq!(decode("a+b", true).0, "a b");
        assert_eq!(decode("a+b", false).0, "a+b");
        assert_eq!(decode("%u003cscript", false).0, "<script");
        let (text, odd) = decode("..%c0%af..%c0%afetc", false);
        assert_eq!(text, "../../etc");
        assert!(odd.overlong);
        assert!(decode("100%", false).1.bad_percent);
        assert!(decode("%ff%fe", false).1.invalid_utf8);
        assert!(decode("a%00b", false).1.nul);
        assert!(decode("a%0d%0aSet-Cookie", false).1.line_break);
    }

    #[test]
    fn entities_and_escapes_are_undone() {
        assert_eq!(decode("&lt;img src=x&gt;", false).0, "<img src=x>");
        assert_eq!(decode("&#60;&#x3C&#0000060;", false).0, "<<<");
        assert_eq!(decode("java&Tab;script&colon;", false).0, "java\tscript:");
        assert_eq!(decode("\\u003cscript\\x3e", false).0, "<script>");
        assert_eq!(
            decode("..\\..\\windows\\win.ini", false).0,
            "..\\..\\windows\\win.ini"
        );
        assert_eq!(decode("AT&T & co", false).0, "AT&T & co");
        assert_eq!(decode("&#", false).0, "&#");
    }

    #[test]
    fn folding_and_paths() {
        assert_eq!(fold("  SeLeCt\t\n\r *  FROM\0x "), "select * fromx");
        assert_eq!(slashes("..\\..//etc"), "../../etc");
        assert_eq!(resolve_dots("/a/./.git/../.git//config"), "/a/.git/config");
        assert_eq!(resolve_dots("/../../x"), "/x");
    }
}
