//! HTTP Message Signatures (RFC 9421) with shared HMAC-SHA256 keys: the client signs the
//! method, path, authority and, with a body, its `Content-Digest` (RFC 9530); the gateway
//! rebuilds the signature base from the request, checks the MAC in constant time, refuses
//! signatures older than `max_age_seconds` (or from the future), and refuses a signature it has
//! seen before in this isolate within that window (replays).

use std::cell::RefCell;
use std::collections::BTreeMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::api_key::Consumer;
use super::basic::same;
use crate::http::header;
use crate::memo::Expiring;

/// Components every signature must cover.
pub const DEFAULT_COMPONENTS: [&str; 3] = ["@method", "@path", "@authority"];
const SEEN_CAPACITY: usize = 50_000;
/// Tolerated clock difference for `created` in the future.
const SKEW_S: f64 = 30.0;

/// The document's `auth.signatures`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signatures {
    pub max_age_s: u64,
    /// keyid → (name of the secret holding the key, consumer).
    pub keys: BTreeMap<String, (String, Consumer)>,
    /// Components every signature covers (`content-digest` too when there is a body).
    pub components: Vec<String>,
}

/// One signature's `Signature-Input` member.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub label: String,
    pub components: Vec<String>,
    /// The member's value as sent: the `@signature-params` line of the base.
    pub params: String,
    pub created: Option<f64>,
    pub expires: Option<f64>,
    pub keyid: Option<String>,
    pub alg: Option<String>,
}

/// The request as the signature base reads it.
pub struct Signed<'a> {
    pub method: &'a str,
    pub url: &'a url::Url,
    pub headers: &'a [(String, String)],
}

thread_local! {
    static SEEN: RefCell<Expiring<()>> = RefCell::new(Expiring::new(SEEN_CAPACITY));
}

/// Reads `Signature-Input` (a structured dictionary of inner lists with parameters).
pub fn parse_input(value: &str) -> Result<Vec<Input>, String> {
    let mut inputs = Vec::new();
    for member in split_members(value) {
        let (label, rest) = member
            .split_once('=')
            .ok_or("Signature-Input: a member has no value")?;
        let rest = rest.trim();
        let close = rest
            .find(')')
            .filter(|_| rest.starts_with('('))
            .ok_or("Signature-Input: not an inner list")?;
        let components = rest[1..close]
            .split_whitespace()
            .map(|item| {
                item.strip_prefix('"')
                    .and_then(|i| i.strip_suffix('"'))
                    .map(str::to_ascii_lowercase)
                    .ok_or_else(|| format!("Signature-Input: '{item}' is not a quoted component"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut input = Input {
            label: label.trim().to_string(),
            components,
            params: rest.to_string(),
            created: None,
            expires: None,
            keyid: None,
            alg: None,
        };
        for param in rest[close + 1..]
            .split(';')
            .filter(|p| !p.trim().is_empty())
        {
            let (name, value) = param.split_once('=').unwrap_or((param, "?1"));
            let text = value.trim().trim_matches('"').to_string();
            match name.trim() {
                "created" => input.created = text.parse().ok(),
                "expires" => input.expires = text.parse().ok(),
                "keyid" => input.keyid = Some(text),
                "alg" => input.alg = Some(text),
                _ => {}
            }
        }
        inputs.push(input);
    }
    Ok(inputs)
}

/// Members of a dictionary, split at commas outside quotes and parentheses.
fn split_members(value: &str) -> Vec<&str> {
    let (mut out, mut start, mut depth, mut quoted) = (Vec::new(), 0, 0, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.into_iter().filter(|m| !m.is_empty()).collect()
}

/// The signature bytes of `label` in a `Signature` header (`label=:base64:`).
pub fn signature_of(value: &str, label: &str) -> Option<Vec<u8>> {
    split_members(value).into_iter().find_map(|member| {
        let (name, bytes) = member.split_once('=')?;
        let encoded = bytes.trim().strip_prefix(':')?.strip_suffix(':')?;
        (name.trim() == label).then(|| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })?
    })
}

/// The signature base (RFC 9421 §2.5) of `input` over `request`.
pub fn base(input: &Input, request: &Signed<'_>) -> Result<String, String> {
    let mut lines = String::new();
    for component in &input.components {
        let value = match component.as_str() {
            "@method" => request.method.to_ascii_uppercase(),
            "@path" => request.url.path().to_string(),
            "@query" => format!("?{}", request.url.query().unwrap_or("")),
            "@scheme" => request.url.scheme().to_string(),
            "@target-uri" => request.url.as_str().to_string(),
            "@request-target" => match request.url.query() {
                Some(q) => format!("{}?{q}", request.url.path()),
                None => request.url.path().to_string(),
            },
            "@authority" => {
                let host = request.url.host_str().unwrap_or("").to_ascii_lowercase();
                match request.url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            }
            name if name.starts_with('@') => {
                return Err(format!("the component {name} is not supported"))
            }
            name => {
                let values: Vec<&str> = request
                    .headers
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v.trim())
                    .collect();
                if values.is_empty() {
                    return Err(format!("the signed header {name} is missing"));
                }
                values.join(", ")
            }
        };
        lines.push_str(&format!("\"{component}\": {value}\n"));
    }
    lines.push_str(&format!("\"@signature-params\": {}", input.params));
    Ok(lines)
}

/// The consumer whose key signed the request; `Err` says why it is refused.
pub fn verify(
    settings: &Signatures,
    request: &Signed<'_>,
    secret_of: impl Fn(&str) -> Option<String>,
    now_ms: f64,
) -> Result<Consumer, String> {
    let inputs =
        parse_input(header(request.headers, "signature-input").ok_or("no Signature-Input")?)?;
    let signatures = header(request.headers, "signature").ok_or("no Signature")?;
    let input = inputs
        .iter()
        .find(|i| {
            i.keyid
                .as_ref()
                .is_some_and(|k| settings.keys.contains_key(k))
        })
        .ok_or("no signature by a known keyid")?;
    if input.alg.as_deref().is_some_and(|alg| alg != "hmac-sha256") {
        return Err("only hmac-sha256 signatures are accepted".into());
    }
    let has_body = header(request.headers, "content-length").is_some_and(|l| l.trim() != "0")
        || header(request.headers, "transfer-encoding").is_some();
    let digest = has_body.then_some("content-digest");
    if let Some(missing) = settings
        .components
        .iter()
        .map(String::as_str)
        .chain(digest)
        .find(|c| !input.components.iter().any(|have| have == c))
    {
        return Err(format!("the signature does not cover {missing}"));
    }
    let now_s = now_ms / 1000.0;
    let created = input.created.ok_or("the signature has no 'created'")?;
    if created > now_s + SKEW_S
        || now_s - created > settings.max_age_s as f64
        || input.expires.is_some_and(|e| e < now_s)
    {
        return Err("the signature is too old, from the future, or expired".into());
    }
    let keyid = input.keyid.as_deref().unwrap_or_default();
    let (secret_var, consumer) = &settings.keys[keyid];
    let secret =
        secret_of(secret_var).ok_or_else(|| format!("the secret {secret_var} is not set"))?;
    let sent = signature_of(signatures, &input.label).ok_or("no Signature for the label")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(base(input, request)?.as_bytes());
    if !same(&mac.finalize().into_bytes(), &sent) {
        return Err("the signature does not match".into());
    }
    let replay_key = format!("{keyid}:{}", crate::digest::hex(&sent));
    if SEEN.with(|s| s.borrow().get(&replay_key, now_ms).is_some()) {
        return Err("the signature was used before (replay)".into());
    }
    let until = (created + settings.max_age_s as f64 + SKEW_S) * 1000.0;
    SEEN.with(|s| s.borrow_mut().insert(replay_key, until, (), now_ms));
    Ok(consumer.clone())
}

/// Whether `body` matches a `Content-Digest` field (RFC 9530: `sha-256` or `sha-512`).
pub fn digest_matches(field: &str, body: &[u8]) -> bool {
    use sha2::Digest;
    let engine = base64::engine::general_purpose::STANDARD;
    split_members(field).into_iter().any(|member| {
        let Some((alg, value)) = member.split_once('=') else {
            return false;
        };
        let Some(sent) = value
            .trim()
            .strip_prefix(':')
            .and_then(|v| v.strip_suffix(':'))
            .and_then(|v| engine.decode(v).ok())
        else {
            return false;
        };
        match alg.trim() {
            "sha-256" => same(&sha2::Sha256::digest(body), &sent),
            "sha-512" => same(&sha2::Sha512::digest(body), &sent),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pairs;

    /// RFC 9421 Appendix B.2.5, the HMAC example, with its key and signature.
    #[test]
    fn the_rfc_example_verifies() {
        let url = url::Url::parse("https://example.com/foo?param=Value&Pet=dog").unwrap();
        let headers = pairs(&[
            ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
            ("content-type", "application/json"),
            (
                "signature-input",
                r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#,
            ),
            (
                "signature",
                "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:",
            ),
        ]);
        let request = Signed {
            method: "POST",
            url: &url,
            headers: &headers,
        };
        let consumer = Consumer {
            name: "example".into(),
            scopes: vec![],
            plan: None,
            disabled: false,
        };
        let settings = Signatures {
            max_age_s: 300,
            keys: BTreeMap::from([(
                "test-shared-secret".to_string(),
                ("KEY".to_string(), consumer.clone()),
            )]),
            components: vec!["@authority".into()],
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode("uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==")
            .unwrap();
        let secret = String::from_utf8_lossy(&key).into_owned();
        // The example's key is not UTF-8: check the MAC over the base directly.
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(
            base(
                &parse_input(header(&headers, "signature-input").unwrap()).unwrap()[0],
                &request,
            )
            .unwrap()
            .as_bytes(),
        );
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()),
            "pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8="
        );
        let now = 1_618_884_500_000.0;
        assert!(
            verify(&settings, &request, |_| Some(secret.clone()), now).is_err(),
            "a lossy key does not verify"
        );
    }

    #[test]
    fn inputs_parse_and_digests_match() {
        let inputs =
            parse_input(r#"a=("@method" "@path");created=10;keyid="k";alg="hmac-sha256", b=()"#)
                .unwrap();
        assert_eq!(inputs.len(), 2);
        assert_eq!(inputs[0].components, vec!["@method", "@path"]);
        assert_eq!(
            (inputs[0].created, inputs[0].keyid.as_deref()),
            (Some(10.0), Some("k"))
        );
        assert_eq!(
            inputs[0].params,
            r#"("@method" "@path");created=10;keyid="k";alg="hmac-sha256""#
        );
        assert!(digest_matches(
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
            b"{\"hello\": \"world\"}"
        ));
        assert!(!digest_matches(
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
            b"{}"
        ));
    }
}
