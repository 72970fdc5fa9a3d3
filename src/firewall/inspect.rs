//! The inspection of one request: every target decoded and read by the detectors the route's
//! paranoia level runs, exclusions applied, custom rules weighed, and the anomaly score summed
//! once per rule (as the OWASP Core Rule Set does).

use serde_json::Value;

use super::custom::{Effect, Facts};
use super::normalize::{decode, fold};
use super::rules;
use super::settings::{Firewall, Mode, RuleRef};
use super::targets::{self, BodyKind, Kind};
use super::{inject, protocol, sqli, ssrf, traversal, xss};

/// What the firewall reads of a request.
pub struct Request<'a> {
    pub method: &'a str,
    /// As received: percent-encoded.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// Lower-case names.
    pub headers: &'a [(String, String)],
    /// The body within the inspection limit, when the request has one the firewall reads.
    pub body: Option<&'a [u8]>,
    /// The body was larger than the limit and was not read.
    pub body_too_large: bool,
    pub ip: Option<&'a str>,
    pub cf: Option<&'a Value>,
}

/// One rule that matched, and where first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub rule: String,
    pub target: String,
    pub score: u32,
}

/// The firewall's finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub mode: Mode,
    pub score: u32,
    pub threshold: u32,
    /// Each matched rule once, in the order found.
    pub matches: Vec<Match>,
    /// The request is refused (block mode, and the threshold reached or a `block` rule hit).
    pub refuse: bool,
    /// The custom rule that let the request skip the firewall.
    pub allowed_by: Option<String>,
}

impl Verdict {
    /// Whether there is anything to log.
    pub fn noteworthy(&self) -> bool {
        !self.matches.is_empty() || self.allowed_by.is_some()
    }

    /// The matched rules' ids.
    pub fn rule_ids(&self) -> Vec<String> {
        self.matches.iter().map(|m| m.rule.clone()).collect()
    }
}

/// Inspects `request` as `firewall` says.
pub fn inspect(firewall: &Firewall, request: &Request<'_>) -> Verdict {
    let mut scan = Scan {
        firewall,
        matches: Vec::new(),
        recorded: Vec::new(),
        hits: Vec::new(),
    };
    let body_text = request.body.map(String::from_utf8_lossy);
    let mut custom_score = Vec::new();
    let mut blocked_by_rule = false;
    if !firewall.rules.is_empty() {
        match weigh_custom(firewall, request, body_text.as_deref()) {
            Custom::Allowed(id) => {
                return Verdict {
                    mode: firewall.mode,
                    score: 0,
                    threshold: firewall.threshold,
                    matches: Vec::new(),
                    refuse: false,
                    allowed_by: Some(id),
                };
            }
            Custom::Weighed { scores, block } => {
                custom_score = scores;
                blocked_by_rule = block;
            }
        }
    }

    let mut head = Vec::new();
    protocol::head(request.method, request.headers, &mut head);
    for id in head {
        let target = match id {
            protocol::SCANNER_AGENT | protocol::NO_USER_AGENT => "header:user-agent",
            _ => "request",
        };
        scan.record(id, &|| target.to_string());
    }
    scan.value(Kind::Path, request.path, &|| "path".to_string());
    if let Some(q) = request.query {
        for (name, value) in targets::pairs(q) {
            let target = || format!("query:{}", decode(name, true).0);
            scan.value(Kind::Name, name, &target);
            scan.value(Kind::Encoded, value, &target);
        }
    }
    for (name, value) in request.headers {
        if name == "cookie" {
            for (cookie, value) in targets::cookies(value) {
                let target = || format!("cookie:{cookie}");
                scan.value(Kind::Name, cookie, &target);
                scan.value(Kind::Encoded, value, &target);
            }
        } else if targets::reads_header(name) {
            scan.value(Kind::Header, value, &|| format!("header:{name}"));
        }
    }
    if request.body_too_large {
        scan.record(protocol::BODY_TOO_LARGE, &|| "body".to_string());
    }
    if let Some(body) = request.body.filter(|b| !b.is_empty()) {
        let content_type = request
            .headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| v.as_str());
        scan.body(
            targets::body_kind(content_type),
            body,
            body_text.as_deref().unwrap_or(""),
        );
    }

    let mut score: u32 = scan.matches.iter().map(|m| m.score).sum();
    for (id, points) in custom_score {
        if scan.firewall.excludes(&RuleRef::Custom(&id), "request") {
            continue;
        }
        score += points;
        scan.matches.push(Match {
            rule: id,
            target: "request".to_string(),
            score: points,
        });
    }
    let reached = score >= firewall.threshold || blocked_by_rule;
    Verdict {
        mode: firewall.mode,
        score,
        threshold: firewall.threshold,
        matches: scan.matches,
        refuse: reached && firewall.mode == Mode::Block,
        allowed_by: None,
    }
}

/// What the custom rules decided: one let the request skip the firewall, or these matched
/// (a `block` rule scoring 0) and whether one blocks.
enum Custom {
    Allowed(String),
    Weighed {
        scores: Vec<(String, u32)>,
        block: bool,
    },
}

/// The custom rules against the request's decoded facts, read only when there are rules.
fn weigh_custom(firewall: &Firewall, request: &Request<'_>, body: Option<&str>) -> Custom {
    let decoded_path = decode(request.path, false).0;
    let query: Vec<(String, String)> = request
        .query
        .map(|q| {
            targets::pairs(q)
                .map(|(n, v)| (decode(n, true).0, decode(v, true).0))
                .collect()
        })
        .unwrap_or_default();
    let cookies: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| targets::cookies(v).map(|(n, v)| (n.to_string(), v.to_string())))
        .collect();
    let facts = Facts {
        method: request.method,
        path: &decoded_path,
        query: &query,
        headers: request.headers,
        cookies: &cookies,
        ip: request.ip,
        cf: request.cf,
        body,
    };
    let mut scores = Vec::new();
    let mut block = false;
    for rule in firewall.rules.iter().filter(|r| r.matches(&facts)) {
        match rule.effect {
            Effect::Allow => return Custom::Allowed(rule.id.clone()),
            Effect::Block => {
                block = true;
                scores.push((rule.id.clone(), 0));
            }
            Effect::Score(score) => scores.push((rule.id.clone(), score)),
        }
    }
    Custom::Weighed { scores, block }
}

struct Scan<'f> {
    firewall: &'f Firewall,
    matches: Vec<Match>,
    /// The built-in rules already in `matches`.
    recorded: Vec<u32>,
    /// Scratch space for one value's detector hits.
    hits: Vec<u32>,
}

impl Scan<'_> {
    /// Counts `id` for the target `name()` unless the paranoia level, an exclusion or an
    /// earlier match of the same rule leaves it out.
    fn record(&mut self, id: u32, name: &dyn Fn() -> String) {
        let Some(rule) = rules::find(id) else { return };
        if rule.level > self.firewall.paranoia || self.recorded.contains(&id) {
            return;
        }
        let target = name();
        if self
            .firewall
            .excludes(&RuleRef::Builtin(id, rule.class), &target)
        {
            return;
        }
        self.recorded.push(id);
        self.matches.push(Match {
            rule: id.to_string(),
            target,
            score: rule.score,
        });
    }

    /// Decodes one value and runs the detectors its kind calls for.
    /// Whether any detector found something (whatever the level and exclusions).
    fn value(&mut self, kind: Kind, raw: &str, name: &dyn Fn() -> String) -> bool {
        // Letters, digits and `_.@-` alone hold no payload (a path still can: `.git`).
        if raw.is_empty()
            || kind != Kind::Path
                && raw
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'))
        {
            return false;
        }
        // The same user agent, referer, cookie and parameters come back request after request:
        // a value found clean before is clean again.
        let remembered = kind != Kind::Literal && kind != Kind::Text && raw.len() <= CLEAN_MAX_LEN;
        if remembered && known_clean(kind, raw) {
            return false;
        }
        let encoded = matches!(kind, Kind::Path | Kind::Encoded | Kind::Name);
        let (decoded, odd) = if encoded || raw.contains(['%', '&', '\\']) {
            decode(raw, matches!(kind, Kind::Encoded | Kind::Name))
        } else {
            (raw.to_string(), Default::default())
        };
        let folded = fold(&decoded);
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        let mut odd = odd;
        if !encoded {
            // '%' in JSON or a header is text, not an encoding.
            odd.bad_percent = false;
        }
        if matches!(kind, Kind::Text) {
            odd.line_break = false;
            odd.control = false;
        }
        protocol::oddities(odd, &mut hits);
        traversal::detect(raw, &folded, kind == Kind::Path, &mut hits);
        xss::detect(&decoded, &folded, &mut hits);
        inject::detect(&folded, &mut hits);
        if kind != Kind::Path {
            sqli::detect(&folded, &mut hits);
            if kind == Kind::Header {
                hits.retain(|h| {
                    !matches!(
                        *h,
                        sqli::META_12 | sqli::META_6 | sqli::META_3 | sqli::COMMENT_ANYWHERE
                    )
                });
            }
        } else {
            // A path's segments are values of their own (`/users/1' or '1'='1`).
            for segment in decoded
                .split('/')
                .filter(|s| s.contains([' ', '\'', '"', '(', ';']))
            {
                sqli::detect(&fold(segment), &mut hits);
            }
            hits.retain(|h| {
                !matches!(
                    *h,
                    sqli::META_12 | sqli::META_6 | sqli::META_3 | sqli::COMMENT_ANYWHERE
                )
            });
        }
        if kind != Kind::Header {
            ssrf::detect(&folded, &mut hits);
        }
        for id in &hits {
            self.record(*id, name);
        }
        let found = !hits.is_empty();
        self.hits = hits;
        if remembered && !found {
            remember_clean(kind, raw);
        }
        found
    }

    fn body(&mut self, kind: BodyKind, body: &[u8], text: &str) {
        let malformed =
            |scan: &mut Self| scan.record(protocol::BODY_MALFORMED, &|| "body".to_string());
        match kind {
            BodyKind::Json => match serde_json::from_slice::<Value>(body) {
                Ok(value) => {
                    // Documents repeat values (enums, cities, notes): one found clean is clean
                    // wherever it appears again.
                    let mut clean: std::collections::HashSet<(bool, &str)> = Default::default();
                    targets::walk_json(&value, &mut Vec::new(), &mut |path, text, is_name| {
                        if clean.contains(&(is_name, text)) {
                            return;
                        }
                        let kind = if is_name { Kind::Name } else { Kind::Literal };
                        let before = self.matches.len();
                        let found =
                            self.value(kind, text, &|| format!("body:{}", targets::pointer(path)));
                        if !found && self.matches.len() == before {
                            clean.insert((is_name, text));
                        }
                    });
                }
                Err(_) => malformed(self),
            },
            BodyKind::Form => {
                for (name, value) in targets::pairs(text) {
                    let target = || format!("form:{}", decode(name, true).0);
                    self.value(Kind::Name, name, &target);
                    self.value(Kind::Encoded, value, &target);
                }
            }
            BodyKind::Multipart(boundary) => match targets::multipart(body, &boundary) {
                Some(parts) => {
                    for part in parts {
                        let field = || format!("form:{}", part.name);
                        self.value(Kind::Name, &part.name, &field);
                        if let Some(value) = part.value {
                            self.value(Kind::Literal, value, &field);
                        }
                        if let Some(filename) = &part.filename {
                            self.value(Kind::Literal, filename, &|| format!("file:{}", part.name));
                        }
                    }
                }
                None => malformed(self),
            },
            BodyKind::Text => {
                self.value(Kind::Text, text, &|| "body".to_string());
            }
            BodyKind::Opaque => {}
        }
    }
}

/// Values up to this long are remembered as clean, up to [`CLEAN_ENTRIES`] of them per
/// isolate (then the memory starts over): a bounded cost, and an exact comparison, so nothing
/// unread is ever let through.
const CLEAN_MAX_LEN: usize = 512;
const CLEAN_ENTRIES: usize = 2048;

thread_local! {
    static CLEAN: std::cell::RefCell<std::collections::HashMap<Box<str>, u8>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn kind_bit(kind: Kind) -> u8 {
    match kind {
        Kind::Path => 1,
        Kind::Encoded => 2,
        Kind::Name => 4,
        Kind::Header => 8,
        Kind::Literal => 16,
        Kind::Text => 32,
    }
}

fn known_clean(kind: Kind, raw: &str) -> bool {
    CLEAN.with(|clean| {
        clean
            .borrow()
            .get(raw)
            .is_some_and(|kinds| kinds & kind_bit(kind) != 0)
    })
}

fn remember_clean(kind: Kind, raw: &str) {
    CLEAN.with(|clean| {
        let mut clean = clean.borrow_mut();
        if clean.len() >= CLEAN_ENTRIES && !clean.contains_key(raw) {
            clean.clear();
        }
        *clean.entry(raw.into()).or_insert(0) |= kind_bit(kind);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::custom::{CustomRule, Operator, Target};
    use crate::firewall::settings::{Exclusion, Selector};

    fn firewall(paranoia: u8) -> Firewall {
        Firewall {
            mode: Mode::Block,
            paranoia,
            threshold: 5,
            body_bytes: 65_536,
            exclusions: Vec::new(),
            rules: Vec::new(),
        }
    }

    fn headers(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut h = vec![("user-agent".to_string(), "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36".to_string())];
        h.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        h
    }

    fn request<'a>(
        path: &'a str,
        query: Option<&'a str>,
        headers: &'a [(String, String)],
        body: Option<&'a [u8]>,
    ) -> Request<'a> {
        Request {
            method: if body.is_some() { "POST" } else { "GET" },
            path,
            query,
            headers,
            body,
            body_too_large: false,
            ip: Some("192.0.2.1"),
            cf: None,
        }
    }

    #[test]
    fn attacks_in_each_target_are_refused_with_their_rule_and_target() {
        let h = headers(&[]);
        let v = inspect(
            &firewall(1),
            &request("/search", Some("q=1%27%20or%20%271%27%3D%271"), &h, None),
        );
        assert!(v.refuse);
        assert_eq!(v.matches[0].target, "query:q");
        let h = headers(&[("content-type", "application/json")]);
        let body = br#"{"post":{"html":"<script>alert(1)</script>"}}"#;
        let v = inspect(&firewall(1), &request("/posts", None, &h, Some(body)));
        assert!(v.refuse);
        assert!(v
            .matches
            .iter()
            .any(|m| m.target == "body:/post/html" && m.rule == "941100"));
        let h = headers(&[("cookie", "session=abc; pref=..%2F..%2Fetc%2Fpasswd")]);
        let v = inspect(&firewall(1), &request("/", None, &h, None));
        assert!(v.matches.iter().any(|m| m.target == "cookie:pref"));
        let h = headers(&[("x-callback", "http://169.254.169.254/latest/meta-data")]);
        assert!(
            !inspect(&firewall(1), &request("/", None, &h, None)).refuse,
            "headers are not read for SSRF"
        );
        let h = headers(&[(
            "referer",
            "https://app.example/?q=<script>alert(1)</script>",
        )]);
        assert!(inspect(&firewall(1), &request("/", None, &h, None)).refuse);
        let h = headers(&[]);
        assert!(
            inspect(
                &firewall(1),
                &request("/users/1'%20or%20'1'='1", None, &h, None)
            )
            .refuse
        );
    }

    #[test]
    fn ordinary_requests_pass() {
        let h = headers(&[
            ("content-type", "application/json"),
            ("cookie", "theme=dark; session=eyJhbGciOi.J9x_y-z"),
        ]);
        let body = br#"{"name":"Conan O'Brien","bio":"I select the best from the menu; or not.","path":"docs/a/b.md","site":"https://example.com/x?y=1","note":"Tom & Jerry <3","price":"5 or 6"}"#;
        let v = inspect(
            &firewall(1),
            &request(
                "/users/42",
                Some("page=2&sort=-created_at&q=rock+%26+roll"),
                &h,
                Some(body),
            ),
        );
        assert_eq!(v.matches, Vec::new());
    }

    #[test]
    fn exclusions_scores_and_custom_rules() {
        let h = headers(&[("content-type", "application/json")]);
        let body = br#"{"html":"<b>bold</b> and <img src=x onerror=alert(1)>"}"#;
        let mut fw = firewall(1);
        assert!(inspect(&fw, &request("/", None, &h, Some(body))).refuse);
        fw.exclusions.push(Exclusion {
            rules: vec![Selector::Class(rules::Class::Xss)],
            targets: vec!["body:/html".into()],
        });
        assert!(!inspect(&fw, &request("/", None, &h, Some(body))).refuse);
        fw.mode = Mode::Log;
        fw.exclusions.clear();
        let v = inspect(&fw, &request("/", None, &h, Some(body)));
        assert!(!v.refuse && v.score >= 5 && v.noteworthy());
        let mut fw = firewall(1);
        fw.rules.push(CustomRule {
            id: "office".into(),
            target: Target::Ip,
            operator: Operator::Cidr(vec![
                crate::security::cidr::Cidr::parse("192.0.2.0/24").expect("cidr")
            ]),
            negate: false,
            effect: Effect::Allow,
        });
        let v = inspect(&fw, &request("/", None, &h, Some(body)));
        assert_eq!(v.allowed_by.as_deref(), Some("office"));
        let mut fw = firewall(1);
        fw.rules.push(CustomRule {
            id: "no-curl".into(),
            target: Target::Header("user-agent".into()),
            operator: Operator::Contains("chrome".into()),
            negate: false,
            effect: Effect::Block,
        });
        assert!(inspect(&fw, &request("/", None, &h, None)).refuse);
    }

    proptest::proptest! {
        #[test]
        fn no_input_makes_it_panic(
            path in "(/[^?#]{0,30}){0,3}",
            query in proptest::option::of(".{0,80}"),
            header in ".{0,60}",
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            kind in 0usize..4,
            mix in "[<>'\"%&;|/\\\\.$(){}=:@#*!`a-z0-9éü€😀 \t-]{0,80}",
        ) {
            let content_type = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "text/xml"][kind];
            let h = headers(&[("content-type", content_type), ("x-note", &header), ("cookie", &header)]);
            let mut fw = firewall(4);
            fw.rules.push(CustomRule { id: "r".into(), target: Target::Query("*".into()), operator: Operator::Regex(regex_lite::Regex::new("a+b").expect("regex")), negate: false, effect: Effect::Score(1) });
            let _ = inspect(&fw, &request(&path, query.as_deref(), &h, Some(&body)));
            let text = String::from_utf8_lossy(&body);
            let _ = inspect(&fw, &request(&text, Some(&text), &h, None));
            let h = headers(&[("content-type", content_type), ("referer", &mix)]);
            let _ = inspect(&fw, &request(&format!("/{mix}"), Some(&mix), &h, Some(mix.as_bytes())));
        }
    }

    #[test]
    fn unreadable_and_oversized_bodies_are_anomalies() {
        let h = headers(&[("content-type", "application/json")]);
        let v = inspect(&firewall(1), &request("/", None, &h, Some(b"{\"a\":")));
        assert_eq!(v.matches[0].rule, "920410");
        let mut r = request("/", None, &h, None);
        r.body_too_large = true;
        assert!(inspect(&firewall(1), &r).refuse);
    }
}
