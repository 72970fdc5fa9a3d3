//! Edge login for browser apps (an OpenID Connect relying party, the backend-for-frontend
//! pattern): a browser without a session is sent to the provider (authorization code with
//! PKCE S256, `state` and `nonce`), the callback exchanges the code and checks the ID token,
//! and the session lives in an encrypted, authenticated `__Host-` cookie (AES-256-GCM through
//! WebCrypto; HttpOnly, Secure, SameSite=Lax). Requests with the session carry its access token
//! upstream; it is refreshed before it expires; logout ends it at the provider too. Unsafe
//! methods with a session cookie must come from the gateway's own origin (CSRF).

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::authenticate::{verify_id_token, Principal};
use super::client;
use super::discovery::{self, Metadata};
use super::settings::{AuthSettings, Issuer, SessionSettings};
use crate::digest;
use crate::http::{cookie, header};
use crate::platform;

/// How long a login may take, from the redirect to the callback.
const LOGIN_MAX_AGE_S: u64 = 600;

/// What the session cookie holds, encrypted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub sub: String,
    /// The ID token's claims about the user (not its protocol claims).
    pub claims: Map<String, Value>,
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// When the access token expires, in seconds since the epoch.
    pub expires_at: f64,
    #[serde(default)]
    pub id_token: Option<String>,
    /// When the user logged in.
    pub created: f64,
}

/// What the login cookie holds while the browser is at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Login {
    state: String,
    nonce: String,
    verifier: String,
    return_to: String,
    created: u64,
}

/// A session found on a request, and the cookie to set when it was refreshed.
pub struct Resumed {
    pub principal: Principal,
    pub access_token: String,
    pub set_cookie: Option<String>,
}

fn random_text() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(platform::random_bytes::<32>())
}

/// PKCE S256 (RFC 7636 §4.2).
pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest::sha256(verifier.as_bytes()))
}

/// A `Set-Cookie` value for this gateway's host only (`__Host-` rules: Secure, Path=/, no Domain).
pub fn set_cookie(name: &str, value: &str, max_age_s: u64) -> String {
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_s}")
}

/// Whether a request is a browser navigating (so it is sent to log in rather than refused).
pub fn is_navigation(method: &str, headers: &[(String, String)]) -> bool {
    let reading = matches!(method, "GET" | "HEAD");
    let navigate = header(headers, "sec-fetch-mode") == Some("navigate");
    let html = header(headers, "accept").is_some_and(|a| a.contains("text/html"));
    reading && (navigate || html)
}

/// Whether a request carrying a session may change something: safe methods always; unsafe ones
/// only from this origin (`Origin`, else `Sec-Fetch-Site: same-origin`).
pub fn same_origin(method: &str, headers: &[(String, String)], own_origin: &str) -> bool {
    if matches!(method, "GET" | "HEAD" | "OPTIONS") {
        return true;
    }
    match header(headers, "origin") {
        Some(origin) => origin.trim_end_matches('/') == own_origin,
        None => header(headers, "sec-fetch-site") == Some("same-origin"),
    }
}

/// A place on this gateway to come back to: a path, never another site.
pub fn local_path(target: &str) -> bool {
    target.starts_with('/')
        && !target.starts_with("//")
        && !target.contains('\\')
        && !target.contains(['\r', '\n'])
}

/// Removes the cookie `name` from the `Cookie` fields (the session is the gateway's, not the
/// upstream's).
pub fn strip_cookie(headers: &mut Vec<(String, String)>, name: &str) {
    for (field, value) in headers.iter_mut() {
        if field == "cookie" {
            let kept: Vec<&str> = value
                .split(';')
                .map(str::trim)
                .filter(|pair| {
                    pair.split_once('=')
                        .is_none_or(|(n, _)| n != name && n != format!("{name}-login"))
                })
                .collect();
            *value = kept.join("; ");
        }
    }
    headers.retain(|(field, value)| field != "cookie" || !value.is_empty());
}

fn key(env: &worker::Env, settings: &SessionSettings) -> Result<String, String> {
    env.secret(&settings.key_var)
        .map(|k| k.to_string())
        .map_err(|_| format!("the secret {} is not set", settings.key_var))
}

fn issuer<'a>(
    auth: &'a AuthSettings,
    settings: &SessionSettings,
) -> Result<(&'a Issuer, &'a discovery::Discovery), String> {
    let issuer = auth
        .issuers
        .get(&settings.issuer)
        .ok_or("the session's issuer is not defined")?;
    let discovery = issuer
        .discovery
        .as_ref()
        .ok_or("the session's issuer has no discovery")?;
    Ok((issuer, discovery))
}

/// The provider's login page for this browser, and the login cookie to set.
pub async fn begin(
    env: &worker::Env,
    auth: &AuthSettings,
    settings: &SessionSettings,
    (origin, return_to): (&str, &str),
    now_ms: f64,
) -> Result<(String, String), String> {
    let (_, discovery) = issuer(auth, settings)?;
    let metadata = discovery::metadata(discovery, now_ms).await?;
    let endpoint = metadata
        .authorization_endpoint
        .as_deref()
        .ok_or("the provider names no authorization_endpoint")?;
    let login = Login {
        state: random_text(),
        nonce: random_text(),
        verifier: random_text(),
        return_to: if local_path(return_to) {
            return_to.to_string()
        } else {
            "/".into()
        },
        created: (now_ms / 1000.0) as u64,
    };
    let mut url = url::Url::parse(endpoint).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.client_id)
        .append_pair(
            "redirect_uri",
            &format!("{origin}{}", settings.callback_path),
        )
        .append_pair("scope", &settings.scopes.join(" "))
        .append_pair("state", &login.state)
        .append_pair("nonce", &login.nonce)
        .append_pair("code_challenge", &challenge(&login.verifier))
        .append_pair("code_challenge_method", "S256");
    let text = serde_json::to_string(&login).map_err(|e| e.to_string())?;
    let sealed = platform::seal(&key(env, settings)?, &text, &login_cookie(settings)).await?;
    Ok((
        url.to_string(),
        set_cookie(&login_cookie(settings), &sealed, LOGIN_MAX_AGE_S),
    ))
}

fn login_cookie(settings: &SessionSettings) -> String {
    format!("{}-login", settings.cookie)
}

/// The callback: the code exchanged, the ID token checked against the login's `nonce`; the
/// session cookie, the login cookie's removal, and where to send the browser.
pub async fn finish(
    env: &worker::Env,
    auth: &AuthSettings,
    settings: &SessionSettings,
    (origin, query, headers): (&str, Option<&str>, &[(String, String)]),
    now_ms: f64,
) -> Result<(Vec<String>, String), String> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(error) = param("error") {
        return Err(format!("the provider refused the login: {error}"));
    }
    let key = key(env, settings)?;
    let sealed = cookie(headers, &login_cookie(settings))
        .ok_or("no login in progress (the login cookie is missing)")?;
    let text = platform::open(&key, &sealed, &login_cookie(settings))
        .await
        .ok_or("the login cookie was changed")?;
    let login: Login = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if (now_ms / 1000.0) as u64 > login.created + LOGIN_MAX_AGE_S {
        return Err("the login took too long".into());
    }
    let state = param("state").ok_or("no state")?;
    if !super::basic::same(state.as_bytes(), login.state.as_bytes()) {
        return Err("the state does not match the login's".into());
    }
    let code = param("code").ok_or("no code")?;
    let (issuer, discovery) = issuer(auth, settings)?;
    let metadata = discovery::metadata(discovery, now_ms).await?;
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code),
        (
            "redirect_uri",
            &format!("{origin}{}", settings.callback_path),
        ),
        ("code_verifier", &login.verifier),
    ];
    let tokens = token_request(env, settings, &metadata, &grant).await?;
    let id_token = tokens
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or("the provider sent no id_token")?;
    let claims = verify_id_token(issuer, id_token, &settings.client_id, now_ms).await?;
    let nonce = claims
        .get("nonce")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !super::basic::same(nonce.as_bytes(), login.nonce.as_bytes()) {
        return Err("the ID token's nonce does not match the login's".into());
    }
    let session = session_from(&tokens, claims, None, now_ms)?;
    let cookie = seal_session(&key, settings, &session).await?;
    Ok((
        vec![cookie, set_cookie(&login_cookie(settings), "", 0)],
        login.return_to,
    ))
}

/// The request's session, refreshed when its access token is about to expire; `Ok(None)`
/// when there is none (or it was changed, expired, or could not be refreshed).
pub async fn resume(
    env: &worker::Env,
    auth: &AuthSettings,
    settings: &SessionSettings,
    headers: &[(String, String)],
    now_ms: f64,
) -> Result<Option<Resumed>, String> {
    let Some(sealed) = cookie(headers, &settings.cookie).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let key = key(env, settings)?;
    let Some(text) = platform::open(&key, &sealed, &settings.cookie).await else {
        return Ok(None);
    };
    let Ok(mut session) = serde_json::from_str::<Session>(&text) else {
        return Ok(None);
    };
    let now_s = now_ms / 1000.0;
    if now_s - session.created > settings.max_age_s as f64 {
        return Ok(None);
    }
    let mut set_cookie = None;
    if session.expires_at - now_s <= settings.refresh_before_s as f64 {
        let Some(refresh_token) = session.refresh_token.clone() else {
            return Ok((session.expires_at > now_s)
                .then(|| resumed(settings, session, None))
                .flatten());
        };
        let (_, discovery) = issuer(auth, settings)?;
        let metadata = discovery::metadata(discovery, now_ms).await?;
        let grant = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ];
        match token_request(env, settings, &metadata, &grant).await {
            Ok(tokens) => {
                session = session_from(&tokens, session.claims.clone(), Some(&session), now_ms)?;
                set_cookie = Some(seal_session(&key, settings, &session).await?);
            }
            // A refused refresh ends the session; an unreachable provider lets a still-valid
            // token serve.
            Err(_) if session.expires_at > now_s => {}
            Err(_) => return Ok(None),
        }
    }
    Ok(resumed(settings, session, set_cookie))
}

fn resumed(
    settings: &SessionSettings,
    session: Session,
    set_cookie: Option<String>,
) -> Option<Resumed> {
    let mut claims = session.claims.clone();
    claims.insert("sub".into(), Value::String(session.sub.clone()));
    let principal = Principal {
        scheme: "session",
        issuer: Some(settings.issuer.clone()),
        subject: Some(session.sub.clone()),
        scopes: super::claims::scopes(&claims),
        roles: Vec::new(),
        plan: None,
        claims,
    };
    Some(Resumed {
        principal,
        access_token: session.access_token,
        set_cookie,
    })
}

async fn seal_session(
    key: &str,
    settings: &SessionSettings,
    session: &Session,
) -> Result<String, String> {
    let text = serde_json::to_string(session).map_err(|e| e.to_string())?;
    let sealed = platform::seal(key, &text, &settings.cookie).await?;
    let left = settings.max_age_s as f64 - (platform::now_ms() / 1000.0 - session.created);
    Ok(set_cookie(&settings.cookie, &sealed, left.max(0.0) as u64))
}

fn session_from(
    tokens: &Map<String, Value>,
    mut claims: Map<String, Value>,
    old: Option<&Session>,
    now_ms: f64,
) -> Result<Session, String> {
    let text = |name: &str| tokens.get(name).and_then(Value::as_str).map(str::to_string);
    let access_token = text("access_token").ok_or("the provider sent no access_token")?;
    let expires_in = tokens
        .get("expires_in")
        .and_then(Value::as_f64)
        .unwrap_or(300.0);
    for protocol in [
        "aud",
        "azp",
        "iat",
        "exp",
        "nbf",
        "nonce",
        "at_hash",
        "c_hash",
        "auth_time",
        "jti",
        "sid",
        "iss",
    ] {
        claims.remove(protocol);
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(old.map(|s| s.sub.clone()))
        .ok_or("the ID token has no sub")?;
    Ok(Session {
        sub,
        claims,
        access_token,
        refresh_token: text("refresh_token").or(old.and_then(|s| s.refresh_token.clone())),
        expires_at: now_ms / 1000.0 + expires_in,
        id_token: text("id_token").or(old.and_then(|s| s.id_token.clone())),
        created: old.map_or(now_ms / 1000.0, |s| s.created),
    })
}

async fn token_request(
    env: &worker::Env,
    settings: &SessionSettings,
    metadata: &Metadata,
    grant: &[(&str, &str)],
) -> Result<Map<String, Value>, String> {
    let endpoint = metadata
        .token_endpoint
        .as_deref()
        .ok_or("the provider names no token_endpoint")?;
    let client = (
        settings.client_id.as_str(),
        settings.client_secret_var.as_str(),
    );
    let answer = client::post_form(env, (endpoint, "token endpoint"), client, grant).await?;
    let value: Value = serde_json::from_str(&answer.text)
        .map_err(|_| format!("token endpoint answered {} without JSON", answer.status))?;
    if answer.status != 200 {
        let error = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        return Err(format!(
            "token endpoint answered {} ({error})",
            answer.status
        ));
    }
    value
        .as_object()
        .cloned()
        .ok_or_else(|| "token endpoint: not a JSON object".into())
}

/// Where logging out sends the browser: the provider's end-session endpoint (RP-initiated
/// logout) with the ID token as hint, or else the configured place; the cookie to clear.
pub async fn logout(
    env: &worker::Env,
    auth: &AuthSettings,
    settings: &SessionSettings,
    (origin, headers): (&str, &[(String, String)]),
    now_ms: f64,
) -> (String, String) {
    let after = if local_path(&settings.after_logout) {
        format!("{origin}{}", settings.after_logout)
    } else {
        settings.after_logout.clone()
    };
    let clear = set_cookie(&settings.cookie, "", 0);
    let id_token = match (cookie(headers, &settings.cookie), key(env, settings)) {
        (Some(sealed), Ok(key)) => platform::open(&key, &sealed, &settings.cookie)
            .await
            .and_then(|text| serde_json::from_str::<Session>(&text).ok())
            .and_then(|s| s.id_token),
        _ => None,
    };
    let end = match issuer(auth, settings) {
        Ok((_, discovery)) => discovery::metadata(discovery, now_ms)
            .await
            .ok()
            .and_then(|m| m.end_session_endpoint.clone()),
        Err(_) => None,
    };
    let Some(end) = end.and_then(|e| url::Url::parse(&e).ok()) else {
        return (after, clear);
    };
    let mut end = end;
    {
        let mut query = end.query_pairs_mut();
        query
            .append_pair("client_id", &settings.client_id)
            .append_pair("post_logout_redirect_uri", &after);
        if let Some(hint) = id_token {
            query.append_pair("id_token_hint", &hint);
        }
    }
    (end.to_string(), clear)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pairs;

    #[test]
    fn pkce_is_the_unpadded_base64url_of_the_verifiers_sha256() {
        // As Node's crypto computes it: createHash("sha256").update(v).digest("base64url").
        assert_eq!(
            challenge("dBjftJeZ4CVP-mJ92K1qGnpUwWmqNXvV6qCmiHxgZwk"),
            "CO8_m3FoVsPMQFAaZ1P4WecDKg3ddgORhCdAfXM1LWQ"
        );
    }

    #[test]
    fn navigation_csrf_and_return_paths() {
        assert!(is_navigation(
            "GET",
            &pairs(&[("accept", "text/html,application/xhtml+xml")])
        ));
        assert!(!is_navigation(
            "GET",
            &pairs(&[("accept", "application/json")])
        ));
        assert!(!is_navigation(
            "POST",
            &pairs(&[("sec-fetch-mode", "navigate")])
        ));
        let own = "https://app.example";
        assert!(same_origin(
            "GET",
            &pairs(&[("origin", "https://evil.example")]),
            own
        ));
        assert!(same_origin(
            "POST",
            &pairs(&[("origin", "https://app.example")]),
            own
        ));
        assert!(!same_origin(
            "POST",
            &pairs(&[("origin", "https://evil.example")]),
            own
        ));
        assert!(same_origin(
            "DELETE",
            &pairs(&[("sec-fetch-site", "same-origin")]),
            own
        ));
        assert!(!same_origin("PUT", &[], own), "no proof of origin: refused");
        assert!(local_path("/orders?page=2"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "orders",
        ] {
            assert!(!local_path(bad), "{bad}");
        }
        assert_eq!(
            set_cookie("__Host-s", "v", 60),
            "__Host-s=v; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=60"
        );
    }
}
