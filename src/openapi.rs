//! An OpenAPI 3.1 description of what the gateway exposes, generated from the compiled route
//! configuration: paths and methods, path parameters, security schemes, the rate-limit and
//! cache headers, and the problem+json errors each operation can answer with.
//!
//! Served at `{ADMIN_PREFIX}/openapi.json` (admin token) and, when the document sets
//! `openapi.path`, publicly at that path.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::auth::{Mode, RouteAuth};
use crate::config::route::{Destination, Route};
use crate::config::Gateway;
use crate::policy::mock::Mock;
use crate::policy::validate::Validation;
use crate::policy::Kind;
use crate::routing::pattern::{self, Part};

const PROBLEM: &str = "#/components/schemas/Problem";

/// The OpenAPI document for `gateway`.
pub fn document(gateway: &Gateway) -> Value {
    let settings = &gateway.openapi;
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut cookies: Vec<&str> = Vec::new();
    let mut uses_jwt = false;
    let mut uses_api_key = false;
    let (mut uses_basic, mut uses_mtls, mut uses_signature) = (false, false, false);
    for route in gateway.routes.routes() {
        let Ok(parts) = pattern::parse(&route.path) else {
            continue;
        };
        if let Some(auth) = &route.auth {
            uses_jwt |= auth.jwt;
            uses_api_key |= auth.api_key;
            uses_basic |= auth.basic;
            uses_mtls |= auth.mtls;
            uses_signature |= auth.signature;
            if let Some(cookie) = auth.cookie.as_deref().filter(|c| !cookies.contains(c)) {
                cookies.push(cookie);
            }
        }
        let item = paths.entry(openapi_path(&parts)).or_default();
        let methods: Vec<&str> = route
            .methods
            .names()
            .filter(|m| !matches!(*m, "HEAD" | "OPTIONS"))
            .collect();
        for method in &methods {
            let key = method.to_ascii_lowercase();
            match item.get_mut(&key) {
                // Another route (for another host) already describes this path and method.
                Some(Value::Object(existing)) => {
                    let also = existing
                        .entry("x-gateway-also-routes")
                        .or_insert_with(|| json!([]));
                    if let Value::Array(names) = also {
                        names.push(json!(route.name));
                    }
                }
                _ => {
                    let operation = operation(gateway, route, &parts, method, methods.len() > 1);
                    item.insert(key, operation);
                }
            }
        }
    }

    let mut schemes = Map::new();
    if uses_jwt {
        schemes.insert(
            "bearer".into(),
            json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}),
        );
    }
    if uses_api_key {
        schemes.insert(
            "apiKey".into(),
            json!({"type": "apiKey", "in": "header", "name": gateway.auth.api_key_header}),
        );
    }
    if uses_basic {
        schemes.insert("basic".into(), json!({"type": "http", "scheme": "basic"}));
    }
    if uses_mtls {
        schemes.insert(
            "mutualTLS".into(),
            json!({"type": "mutualTLS", "description": "A client certificate listed in auth.client_certificates."}),
        );
    }
    if uses_signature {
        schemes.insert(
            "signature".into(),
            json!({"type": "apiKey", "in": "header", "name": "Signature",
                   "description": "An HTTP Message Signature (RFC 9421, hmac-sha256) with Signature-Input covering @method, @path, @authority and Content-Digest."}),
        );
    }
    if uses_jwt {
        for issuer in gateway.auth.issuers.values() {
            if let Some(discovery) = &issuer.discovery {
                schemes.insert(
                    format!("oidc-{}", issuer.name),
                    json!({"type": "openIdConnect", "openIdConnectUrl": discovery.url}),
                );
            }
            if let Some(flows) = &issuer.oauth2 {
                schemes.insert(format!("oauth2-{}", issuer.name), oauth2_scheme(flows));
            }
        }
    }
    for cookie in cookies {
        schemes.insert(
            format!("cookie-{cookie}"),
            json!({"type": "apiKey", "in": "cookie", "name": cookie}),
        );
    }

    let mut info = json!({
        "title": settings.title.as_deref().unwrap_or("API"),
        "version": settings.version.as_deref().unwrap_or(&gateway.version),
    });
    if let Some(description) = &settings.description {
        info["description"] = json!(description);
    }
    let mut document = json!({
        "openapi": "3.1.0",
        "info": info,
        "paths": paths,
        "components": components(schemes),
    });
    if !settings.servers.is_empty() {
        document["servers"] = settings
            .servers
            .iter()
            .map(|url| json!({"url": url}))
            .collect();
    }
    document
}

/// The document as a response, for whoever may read it.
pub fn respond(gateway: &Gateway) -> Result<worker::Response, crate::error::GatewayError> {
    let internal = |e: worker::Error| crate::error::GatewayError::Internal {
        cause: format!("serving the OpenAPI document: {e}"),
    };
    let mut response = worker::Response::from_json(&document(gateway)).map_err(internal)?;
    let headers = response.headers_mut();
    headers.set("cache-control", "no-cache").map_err(internal)?;
    headers
        .set("etag", &format!("\"{}\"", gateway.version))
        .map_err(internal)?;
    Ok(response)
}

/// `/users/{id}` and `/files/{*rest}` as OpenAPI paths (`{rest}`, documented as spanning
/// segments).
fn openapi_path(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|part| match part {
            Part::Literal(text) => text.clone(),
            Part::Param { name, .. } => format!("{{{name}}}"),
        })
        .collect()
}

fn operation(
    gateway: &Gateway,
    route: &Route,
    parts: &[Part],
    method: &str,
    several_methods: bool,
) -> Value {
    let operation_id = if several_methods {
        format!("{}-{}", route.name, method.to_ascii_lowercase())
    } else {
        route.name.clone()
    };
    let tag = match &route.destination {
        Destination::Service(service) => service.clone(),
        Destination::Aggregate(_) => "aggregate".to_string(),
    };
    let parameters: Vec<Value> = parts
        .iter()
        .filter_map(|part| match part {
            Part::Param { name, catch_all } => Some(json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": {"type": "string"},
                "description": if *catch_all {
                    "The rest of the path; may contain '/'."
                } else {
                    "One path segment."
                },
            })),
            Part::Literal(_) => None,
        })
        .collect();

    let mut success_headers =
        json!({"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}});
    let limited = !gateway
        .rate_limits
        .for_request(&route.rate_limits, None)
        .is_empty()
        || route.auth.is_some();
    if limited && !gateway.rate_limits.policies.is_empty() {
        success_headers["RateLimit"] = json!({"$ref": "#/components/headers/RateLimit"});
        success_headers["RateLimit-Policy"] =
            json!({"$ref": "#/components/headers/RateLimit-Policy"});
    }
    if route.cache.is_some() {
        success_headers["X-Cache"] = json!({"$ref": "#/components/headers/X-Cache"});
    }
    let success = match &route.destination {
        Destination::Aggregate(aggregate) => {
            let backends: Vec<&str> = aggregate.backends.iter().map(|b| b.name.as_str()).collect();
            json!({
                "description": format!("One JSON document composed from the backends {}.", backends.join(", ")),
                "headers": success_headers,
                "content": {"application/json": {"schema": {"type": "object"}}},
            })
        }
        Destination::Service(service) => json!({
            "description": format!("The response of the service '{service}', relayed."),
            "headers": success_headers,
        }),
    };

    let mut responses = Map::new();
    responses.insert("default".into(), success);
    if route.websocket && method == "GET" {
        responses.insert(
            "101".into(),
            json!({"description": "Switching Protocols: a WebSocket connection to the service."}),
        );
    }
    for (status, reason) in error_statuses(gateway, route, method) {
        responses.insert(status.to_string(), problem_response(status, reason));
    }

    let mut parameters = parameters;
    let mut request_body = None;
    for policy in &route.policies {
        match &policy.kind {
            Kind::Validate(validation) => {
                request_body = described(validation, &mut parameters).or(request_body);
            }
            Kind::Mock(mock) if policy.when.is_none() => {
                responses.insert("default".into(), mocked(mock));
            }
            _ => {}
        }
    }
    let mut op = json!({
        "operationId": operation_id,
        "summary": route.name,
        "tags": [tag],
        "responses": responses,
    });
    if !parameters.is_empty() {
        op["parameters"] = json!(parameters);
    }
    if let Some(body) = request_body {
        op["requestBody"] = body;
    }
    if !route.policies.is_empty() {
        let policies: Vec<Value> = route
            .policies
            .iter()
            .map(
                |p| json!({"name": p.name, "kind": p.kind.name(), "conditional": p.when.is_some()}),
            )
            .collect();
        op["x-gateway-policies"] = json!(policies);
    }
    if let Some(firewall) = &route.firewall {
        op["x-gateway-firewall"] = json!({
            "mode": firewall.mode.name(),
            "paranoia": firewall.paranoia,
            "threshold": firewall.threshold,
            "body_bytes": firewall.body_bytes,
        });
    }
    if let Some(auth) = &route.auth {
        op["security"] = security(gateway, auth);
        let scopes = auth.scopes.names();
        if !scopes.is_empty() {
            op["x-gateway-scopes"] = json!(scopes);
        }
    }
    if let Some(host) = &route.host {
        op["servers"] = json!([{"url": format!("https://{host}")}]);
    }
    if route.websocket {
        op["x-gateway-websocket"] = json!(true);
    }
    op
}

/// A `validate` policy's parameters (replacing or joining `parameters`) and its request body.
fn described(validation: &Validation, parameters: &mut Vec<Value>) -> Option<Value> {
    let places = [
        ("path", &validation.params),
        ("query", &validation.query),
        ("header", &validation.headers),
    ];
    for (place, params) in places {
        for param in params {
            parameters.retain(|p| !(p["name"] == param.name.as_str() && p["in"] == place));
            parameters.push(json!({
                "name": param.name,
                "in": place,
                "required": param.required,
                "schema": param.schema.shown,
            }));
        }
    }
    validation.body.as_ref().map(|body| {
        json!({
            "required": body.required,
            "content": {"application/json": {"schema": body.schema.shown}},
        })
    })
}

/// The answer of a `mock` policy that answers every request.
fn mocked(mock: &Mock) -> Value {
    let media =
        crate::http::header(&mock.headers, "content-type").unwrap_or("application/octet-stream");
    let example = serde_json::from_slice::<Value>(&mock.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&mock.body).into_owned()));
    json!({
        "description": format!("A mock answer ({}), without the service.", mock.status),
        "content": {media: {"example": example}},
    })
}

/// An issuer's OAuth2 flows as a security scheme.
fn oauth2_scheme(flows: &crate::auth::OAuth2Flows) -> Value {
    let scopes: Map<String, Value> = flows
        .scopes
        .iter()
        .map(|(scope, text)| (scope.clone(), json!(text)))
        .collect();
    let mut described =
        json!({"clientCredentials": {"tokenUrl": flows.token_url, "scopes": scopes}});
    if let Some(authorization_url) = &flows.authorization_url {
        described["authorizationCode"] = json!({"authorizationUrl": authorization_url, "tokenUrl": flows.token_url, "scopes": scopes});
    }
    json!({"type": "oauth2", "flows": described})
}

/// Alternatives the route accepts; an empty requirement when credentials are optional.
fn security(gateway: &Gateway, auth: &RouteAuth) -> Value {
    let mut alternatives = Vec::new();
    if auth.jwt {
        alternatives.push(json!({"bearer": []}));
        let discovered = gateway
            .auth
            .issuers
            .values()
            .filter(|i| i.discovery.is_some())
            .filter(|i| auth.issuers.is_empty() || auth.issuers.contains(&i.name));
        for issuer in discovered {
            alternatives.push(json!({ format!("oidc-{}", issuer.name): [] }));
        }
        let with_flows = gateway
            .auth
            .issuers
            .values()
            .filter(|i| i.oauth2.is_some())
            .filter(|i| auth.issuers.is_empty() || auth.issuers.contains(&i.name));
        for issuer in with_flows {
            alternatives
                .push(json!({ format!("oauth2-{}", issuer.name): auth.scopes.names_list() }));
        }
    }
    for (accepted, scheme) in [
        (auth.basic, "basic"),
        (auth.mtls, "mutualTLS"),
        (auth.signature, "signature"),
    ] {
        if accepted {
            alternatives.push(json!({ scheme: [] }));
        }
    }
    if auth.api_key {
        alternatives.push(json!({"apiKey": []}));
    }
    if let Some(cookie) = &auth.cookie {
        alternatives.push(json!({ format!("cookie-{cookie}"): [] }));
    }
    if auth.mode == Mode::Optional {
        alternatives.push(json!({}));
    }
    json!(alternatives)
}

/// The gateway's own answers this route can give, with the condition for each.
fn error_statuses(gateway: &Gateway, route: &Route, method: &str) -> Vec<(u16, &'static str)> {
    let mut out = vec![(
        400,
        "The path, URL, a header or a WebSocket handshake is malformed.",
    )];
    if route.auth.is_some() {
        out.push((401, "Credentials are missing, invalid or expired."));
    }
    let scoped = route
        .auth
        .as_ref()
        .is_some_and(|a| !a.scopes.names().is_empty() || !a.roles.names().is_empty());
    let firewall_blocks = route
        .firewall
        .as_ref()
        .is_some_and(|f| f.mode == crate::firewall::settings::Mode::Block);
    if firewall_blocks {
        out.push((
            403,
            "Refused: by the firewall (waf-blocked, naming the rules in 'rules'), a missing scope \
             or role, an address not allowed, or a cross-origin request refused.",
        ));
    } else if scoped || route.security.ip.is_some() || route.security.cors.is_some() {
        out.push((
            403,
            "Refused: missing scope or role, address not allowed, or cross-origin request refused.",
        ));
    }
    if route
        .security
        .limits
        .is_some_and(|l| l.max_body_bytes.is_some())
    {
        out.push((
            411,
            "The route limits bodies and Content-Length is missing.",
        ));
        out.push((413, "The body exceeds the route's limit."));
    }
    if !matches!(method, "GET" | "HEAD" | "OPTIONS") {
        out.push((408, "The request body did not arrive in full."));
    }
    if route.websocket && method == "GET" {
        out.push((426, "A WebSocket upgrade for a version other than 13."));
    }
    if !gateway.rate_limits.policies.is_empty() {
        out.push((429, "A rate limit is exhausted; see Retry-After."));
    }
    if route
        .policies
        .iter()
        .any(|p| matches!(p.kind, Kind::Validate(_)))
    {
        out[0].1 = "The path, URL, a header or a WebSocket handshake is malformed, or a \
                    `validate` policy found violations (listed in 'violations').";
    }
    out.push((431, "The header fields are too large or too many."));
    let asks = route
        .policies
        .iter()
        .any(|p| matches!(p.kind, Kind::Worker(_) | Kind::Http(_)));
    out.push(if asks {
        (
            502,
            "The service could not be reached or failed, or a policy could not decide (policy-failed).",
        )
    } else {
        (502, "The service could not be reached or failed.")
    });
    out.push((
        503,
        "The gateway cannot serve right now (configuration, limiter, keys or open circuit).",
    ));
    out.push((504, "The service did not answer in time."));
    out
}

fn problem_response(status: u16, description: &str) -> Value {
    let mut response = json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": PROBLEM}}},
    });
    if status == 429 {
        response["headers"] = json!({
            "Retry-After": {"$ref": "#/components/headers/Retry-After"},
            "RateLimit": {"$ref": "#/components/headers/RateLimit"},
            "RateLimit-Policy": {"$ref": "#/components/headers/RateLimit-Policy"},
        });
    }
    response
}

/// The components every document shares: the problem schema and the gateway's headers. Kept as
/// JSON text rather than a `json!` tree, which compiles into code for every key and value.
const SHARED_COMPONENTS: &str = r#"{
  "schemas": {
    "Problem": {
      "type": "object",
      "description": "An RFC 9457 problem; `code` is stable and equals the last segment of `type`.",
      "required": ["type", "title", "status", "detail", "code", "request_id"],
      "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
          "type": "array",
          "items": {"type": "object", "properties": {"path": {"type": "string"}, "message": {"type": "string"}}}
        },
        "violations": {
          "type": "array",
          "description": "request-invalid: every violation a validate policy found.",
          "items": {"type": "object", "properties": {
            "in": {"type": "string", "enum": ["path", "query", "header", "body"]},
            "pointer": {"type": "string", "description": "JSON Pointer within that part."},
            "message": {"type": "string"}}}
        },
        "policy": {"type": "string", "description": "The policy that refused or failed the request."},
        "rules": {
          "type": "array",
          "description": "waf-blocked: the firewall rules that matched (built-in ids or custom rule ids); quote `request_id` to have a refusal looked into.",
          "items": {"type": "string"}
        }
      }
    }
  },
  "headers": {
    "X-Request-Id": {"description": "The request's id, also in the gateway's access log.", "schema": {"type": "string"}},
    "RateLimit": {"description": "The remaining allowance of each policy (draft-ietf-httpapi-ratelimit-headers).", "schema": {"type": "string"}},
    "RateLimit-Policy": {"description": "The quota and window of each policy.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds until a retry can succeed.", "schema": {"type": "integer"}},
    "X-Cache": {"description": "How the gateway's cache answered.",
                "schema": {"type": "string", "enum": ["HIT", "MISS", "STALE", "REVALIDATED", "BYPASS"]}}
  }
}"#;

fn components(schemes: Map<String, Value>) -> Value {
    let mut components: Map<String, Value> =
        serde_json::from_str(SHARED_COMPONENTS).unwrap_or_default();
    if !schemes.is_empty() {
        components.insert("securitySchemes".into(), Value::Object(schemes));
    }
    Value::Object(components)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compile;

    fn gateway(routes: Value) -> Gateway {
        let doc = json!({
            "version": 1,
            "openapi": {"title": "Shop", "servers": ["https://api.example.com"]},
            "services": {"users": {"upstreams": ["http://127.0.0.1:1"]}},
            "auth": {"issuers": {"idp": {"issuer": "https://idp/", "audiences": ["api"],
                     "algorithms": ["HS256"], "keys": [{"kty": "oct", "k": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}}},
            "rate_limits": {"per-ip": {"quota": {"limit": 5, "window": "minute"}, "key": ["ip"]}},
            "routes": routes,
        });
        compile(&doc.to_string()).expect("valid")
    }

    #[test]
    fn firewalled_routes_document_the_refusal() {
        let doc = document(&gateway(json!([
            {"name": "guarded", "path": "/guarded", "service": "users", "firewall": {"paranoia": 2}},
            {"name": "watched", "path": "/watched", "service": "users", "firewall": {"mode": "log"}},
        ])));
        let guarded = &doc["paths"]["/guarded"]["get"];
        assert_eq!(guarded["x-gateway-firewall"]["paranoia"], 2);
        assert!(guarded["responses"]["403"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("waf-blocked")));
        let watched = &doc["paths"]["/watched"]["get"];
        assert_eq!(watched["x-gateway-firewall"]["mode"], "log");
        assert!(watched["responses"].get("403").is_none());
    }

    #[test]
    fn policies_describe_their_parameters_bodies_mocks_and_failures() {
        let doc = document(&gateway(json!([
            {"name": "pet", "methods": ["POST"], "path": "/pets/{id}", "service": "users", "policies": [
                {"name": "shape", "validate": {
                    "params": {"properties": {"id": {"type": "integer"}}},
                    "query": {"properties": {"dry": {"type": "boolean"}}, "required": ["dry"]},
                    "body": {"$ref": "#/$defs/pet", "$defs": {"pet": {"type": "object", "required": ["name"]}}}
                }},
                {"name": "ext", "worker": {"binding": "POLICY"}}
            ]},
            {"name": "demo", "path": "/demo", "service": "users", "policies": [
                {"name": "canned", "mock": {"status": 201, "body": {"ok": true}}}
            ]},
        ])));
        let pet = &doc["paths"]["/pets/{id}"]["post"];
        assert_eq!(pet["parameters"][0]["schema"]["type"], "integer");
        assert_eq!(pet["parameters"][1]["name"], "dry");
        assert_eq!(pet["parameters"][1]["required"], true);
        let body = &pet["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(
            body["required"][0], "name",
            "the reference is shown inlined"
        );
        assert!(pet["responses"]["502"]["description"]
            .as_str()
            .unwrap()
            .contains("policy-failed"));
        assert!(pet["responses"]["400"]["description"]
            .as_str()
            .unwrap()
            .contains("violations"));
        assert_eq!(pet["x-gateway-policies"][1]["kind"], "worker");
        let demo = &doc["paths"]["/demo"]["get"]["responses"]["default"];
        assert_eq!(demo["content"]["application/json"]["example"]["ok"], true);
    }

    #[test]
    fn the_other_credentials_are_security_schemes() {
        let doc = json!({
            "version": 1,
            "services": {"users": {"upstreams": ["http://127.0.0.1:1"]}},
            "auth": {
                "issuers": {
                    "idp": {"issuer": "https://idp.test", "audiences": ["api"], "algorithms": ["RS256"], "discovery": true},
                    "as": {"issuer": "https://as.test", "audiences": ["api"],
                           "introspection": {"client_id": "gw", "client_secret_var": "S", "endpoint": "https://as.test/introspect"},
                           "oauth2": {"token_url": "https://as.test/token", "authorization_url": "https://as.test/authorize", "scopes": {"orders:read": "Read orders"}}}
                },
                "signatures": {"keys": {"k": {"secret_var": "K"}}}
            },
            "routes": [
                {"name": "all", "path": "/all", "service": "users", "auth": {"mode": "required", "schemes": ["jwt", "basic", "mtls", "signature"]}}
            ]
        });
        let doc = document(&compile(&doc.to_string()).expect("valid"));
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(
            schemes["oidc-idp"]["openIdConnectUrl"],
            "https://idp.test/.well-known/openid-configuration"
        );
        assert_eq!(schemes["basic"]["scheme"], "basic");
        assert_eq!(schemes["mutualTLS"]["type"], "mutualTLS");
        assert_eq!(schemes["signature"]["name"], "Signature");
        let security = doc["paths"]["/all"]["get"]["security"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(security.len(), 6, "{security:?}");
        let flows = &schemes["oauth2-as"]["flows"];
        assert_eq!(
            flows["clientCredentials"]["tokenUrl"],
            "https://as.test/token"
        );
        assert_eq!(
            flows["authorizationCode"]["scopes"]["orders:read"],
            "Read orders"
        );
    }

    #[test]
    fn paths_parameters_and_methods() {
        let doc = document(&gateway(json!([
            {"name": "user", "methods": ["GET", "PUT"], "path": "/users/{id}", "service": "users"},
            {"name": "files", "methods": ["GET"], "path": "/files/{*rest}", "service": "users"},
        ])));
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "Shop");
        assert_eq!(doc["servers"][0]["url"], "https://api.example.com");
        let user = &doc["paths"]["/users/{id}"];
        assert_eq!(user["get"]["operationId"], "user-get");
        assert_eq!(user["put"]["operationId"], "user-put");
        assert!(user.get("head").is_none());
        assert_eq!(user["get"]["parameters"][0]["name"], "id");
        assert_eq!(user["get"]["parameters"][0]["required"], true);
        let files = &doc["paths"]["/files/{rest}"]["get"];
        assert_eq!(files["operationId"], "files");
        assert!(files["parameters"][0]["description"]
            .as_str()
            .is_some_and(|d| d.contains("'/'")));
        assert!(files["responses"]["502"].is_object());
        assert!(files.get("security").is_none());
    }

    #[test]
    fn security_and_rate_limits_are_described() {
        let doc = document(&gateway(json!([
            {"name": "me", "methods": ["GET"], "path": "/me", "service": "users",
             "auth": {"mode": "optional", "schemes": ["jwt", "api_key"]}, "rate_limits": ["per-ip"]},
        ])));
        let me = &doc["paths"]["/me"]["get"];
        assert_eq!(me["security"], json!([{"bearer": []}, {"apiKey": []}, {}]));
        assert!(me["responses"]["401"].is_object());
        assert!(me["responses"]["429"]["headers"]["Retry-After"].is_object());
        assert!(me["responses"]["default"]["headers"]["RateLimit"].is_object());
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["apiKey"]["name"], "x-api-key");
    }

    #[test]
    fn the_shared_components_are_complete() {
        let components = components(Map::new());
        assert_eq!(
            components["schemas"]["Problem"]["required"][5],
            "request_id"
        );
        let headers = components["headers"].as_object().unwrap();
        let names: Vec<&str> = headers.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "RateLimit",
                "RateLimit-Policy",
                "Retry-After",
                "X-Cache",
                "X-Request-Id"
            ]
        );
        assert!(components.get("securitySchemes").is_none());
    }
}
