//! Policies: the route's own `policies`, in order, after the upstream headers are known and
//! before the service is chosen; on the way out, in reverse, for each whose request phase ran.
//! A `worker` or `http` policy is asked over the documented protocol; `transform`, `validate`
//! and `mock` are plain functions of the policy domain.

use super::{Flow, Outcome, Stage};
use crate::config::route::Route;
use crate::error::GatewayError;
use crate::exchange::{Answer, Body, Exchange, Reply};
use crate::platform;
use crate::policy::call::{Call, OnError};
use crate::policy::protocol::{describe, Description, Verdict};
use crate::policy::transform::Inputs;
use crate::policy::validate::Parts;
use crate::policy::{Kind, Policy, MAX_BODY_BYTES};
use crate::upstream::headers::{change, HeaderRules};

/// Runs the route's policies: each may change the request, answer it, or refuse it.
pub struct Policies;

/// What a transform's values are read from.
fn inputs<'e>(ex: &'e Exchange<'_>, params: &'e [(String, String)], route: &'e str) -> Inputs<'e> {
    Inputs {
        params,
        query: ex.url.query(),
        headers: &ex.headers,
        claims: ex.principal.as_ref().map(|p| &p.claims),
        request_id: &ex.ctx.request_id,
        route,
    }
}

/// The route's path parameters, percent-decoded.
fn decoded(params: &[(String, String)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

/// How long a policy may wait for the client's body or the origin's.
const BODY_MS: u64 = 10_000;

impl Stage for Policies {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        if route.policies.iter().any(Policy::reads_cf) {
            ex.load_cf();
        }
        for (i, policy) in route.policies.iter().enumerate() {
            if policy
                .when
                .as_ref()
                .is_some_and(|when| !when.holds(&ex.facts()))
            {
                continue;
            }
            ex.policies.push((i, HeaderRules::default()));
            if let Some(answer) = on_request(ex, &route, policy).await? {
                return Ok(Flow::Respond(Answer::Reply(answer)));
            }
        }
        Ok(Flow::Continue)
    }

    async fn response(&self, ex: &mut Exchange<'_>, mut outcome: Outcome) -> Outcome {
        let Ok(route) = ex.route() else {
            return outcome;
        };
        for (i, to_client) in std::mem::take(&mut ex.policies).into_iter().rev() {
            let Ok(Answer::Reply(mut reply)) = outcome else {
                return outcome;
            };
            change(&mut reply.headers, &to_client);
            outcome = on_response(ex, &route, &route.policies[i], reply)
                .await
                .map(Answer::Reply);
        }
        outcome
    }
}

async fn on_request(
    ex: &mut Exchange<'_>,
    route: &Route,
    policy: &Policy,
) -> Result<Option<Reply>, GatewayError> {
    let body = match policy.reads_body() {
        Some(limit) => Some(ex.read_body(limit, BODY_MS).await?.to_vec()),
        None => None,
    };
    let params = decoded(ex.params());
    match &policy.kind {
        Kind::Worker(call) | Kind::Http(call) => {
            let verdict = ask(ex, route, policy, call, (&params, body.as_deref()), None).await?;
            match verdict {
                Some(Verdict::Respond {
                    status,
                    headers,
                    body,
                }) => return Ok(Some(Reply::composed((status, headers, Some(body))))),
                Some(Verdict::Continue {
                    request_headers,
                    response_headers,
                }) => {
                    change(&mut ex.upstream_headers, &request_headers);
                    if let Some(last) = ex.policies.last_mut() {
                        last.1 = response_headers;
                    }
                }
                None => {}
            }
        }
        Kind::Transform(transform) => {
            let changes = &transform.request;
            let mut upstream = std::mem::take(&mut ex.upstream_headers);
            let inputs = inputs(ex, &params, &route.name);
            changes.headers(&mut upstream, &inputs);
            let query = changes.query(inputs.query, &inputs);
            let body = match body.filter(|_| changes.touches_body()) {
                Some(bytes) if !bytes.is_empty() => {
                    let value =
                        serde_json::from_slice(&bytes).map_err(|e| GatewayError::InvalidBody {
                            policy: policy.name.clone(),
                            reason: e.to_string(),
                        })?;
                    Some(changes.body(value, &inputs).to_string().into_bytes())
                }
                _ => None,
            };
            ex.upstream_headers = upstream;
            ex.url.set_query(query.as_deref());
            if body.is_some() {
                ex.body = body;
            }
        }
        Kind::Validate(validation) => {
            let parts = Parts {
                params: &params,
                query: ex.url.query(),
                headers: &ex.headers,
                body: body.as_deref(),
            };
            let violations = validation.check(&parts);
            if !violations.is_empty() {
                return Err(GatewayError::RequestInvalid {
                    policy: policy.name.clone(),
                    violations,
                });
            }
        }
        Kind::Mock(mock) => {
            return Ok(Some(Reply::composed((
                mock.status,
                mock.headers.clone(),
                Some(mock.body.clone()),
            ))))
        }
    }
    Ok(None)
}

async fn on_response(
    ex: &mut Exchange<'_>,
    route: &Route,
    policy: &Policy,
    mut reply: Reply,
) -> Result<Reply, GatewayError> {
    let params = decoded(ex.params());
    match &policy.kind {
        Kind::Worker(call) | Kind::Http(call) if call.response_phase => {
            let head = (reply.status, reply.headers.as_slice());
            match ask(ex, route, policy, call, (&params, None), Some(head)).await? {
                Some(Verdict::Respond {
                    status,
                    headers,
                    body,
                }) => return Ok(Reply::composed((status, headers, Some(body)))),
                Some(Verdict::Continue {
                    response_headers, ..
                }) => change(&mut reply.headers, &response_headers),
                None => {}
            }
        }
        Kind::Transform(transform) if !transform.response.is_empty() => {
            let changes = &transform.response;
            let inputs = inputs(ex, &params, &route.name);
            changes.headers(&mut reply.headers, &inputs);
            let json = crate::http::header(&reply.headers, "content-type")
                .is_some_and(|t| t.contains("json"));
            if changes.touches_body() && json {
                let bytes = match &reply.body {
                    Body::Origin(response) => platform::fetch::read_within(response, BODY_MS)
                        .await
                        .and_then(Result::ok),
                    Body::Bytes(bytes) => Some(bytes.clone()),
                    _ => None,
                };
                // An answer that is not JSON after all passes unchanged.
                if let Some(value) = bytes
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                {
                    reply
                        .headers
                        .retain(|(n, _)| n != "content-length" && n != "etag");
                    reply.body = Body::Bytes(changes.body(value, &inputs).to_string().into_bytes());
                } else if let Some(bytes) = bytes {
                    reply.body = Body::Bytes(bytes);
                }
            }
        }
        _ => {}
    }
    Ok(reply)
}

/// Asks a `worker` or `http` policy; `None` when it failed and `on_error` lets the request go.
async fn ask(
    ex: &Exchange<'_>,
    route: &Route,
    policy: &Policy,
    call: &Call,
    (params, body): (&[(String, String)], Option<&[u8]>),
    response: Option<(u16, &[(String, String)])>,
) -> Result<Option<Verdict>, GatewayError> {
    let mut description = Description {
        policy: &policy.name,
        request_id: &ex.ctx.request_id,
        route: &route.name,
        params,
        method: &ex.ctx.method,
        path: ex.url.path(),
        query: ex.url.query(),
        headers: &ex.upstream_headers,
        client_ip: crate::http::header(&ex.headers, "cf-connecting-ip"),
        cf: ex.cf.as_ref().and_then(Option::as_ref),
        principal: ex.principal.as_ref(),
        body: body.filter(|b| b.len() as u64 <= call.body_bytes.unwrap_or(MAX_BODY_BYTES)),
        response,
    };
    let text = describe(&description);
    // The same request from another client id or trace is the same question.
    let key = (call.cache_seconds > 0).then(|| {
        description.request_id = "";
        let headers: Vec<(String, String)> = description
            .headers
            .iter()
            .filter(|(n, _)| !matches!(n.as_str(), "x-request-id" | "traceparent" | "tracestate"))
            .cloned()
            .collect();
        describe(&Description {
            headers: &headers,
            ..description
        })
    });
    match call.ask(ex.env, text, key, platform::now_ms()).await {
        Ok(verdict) => Ok(Some(verdict)),
        Err(cause) if call.on_error == OnError::Allow => {
            let line = serde_json::json!({"type": "policy", "request_id": ex.ctx.request_id, "route": route.name, "policy": policy.name, "error": cause, "on_error": "allow"});
            platform::log(&line.to_string());
            Ok(None)
        }
        Err(cause) => Err(GatewayError::PolicyFailed {
            policy: policy.name.clone(),
            cause: format!("policy '{}': {cause}", policy.name),
        }),
    }
}
