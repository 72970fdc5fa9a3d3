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
use crate::policy::protocol::{allowed_failure, cache_key, describe, Description, Verdict};
use crate::policy::transform::Inputs;
use crate::policy::validate::Parts;
use crate::policy::{Kind, Policy};
use crate::routing::decoded_params;
use crate::upstream::headers::{change, HeaderRules};

/// Runs the route's policies: each may change the request, answer it, or refuse it.
pub struct Policies;

/// How long a policy may wait for the client's body or the origin's.
const BODY_MS: u64 = 10_000;

impl Stage for Policies {
    async fn request(&self, ex: &mut Exchange<'_>) -> Result<Flow, GatewayError> {
        let route = ex.route()?;
        if route.policies.iter().any(Policy::reads_cf) {
            ex.load_cf();
        }
        for (i, policy) in route.policies.iter().enumerate() {
            if policy.when.as_ref().is_some_and(|w| !w.holds(&ex.facts())) {
                continue;
            }
            ex.policies.push((i, HeaderRules::default()));
            if let Some(reply) = on_request(ex, &route, policy).await? {
                return Ok(Flow::Respond(Answer::Reply(reply)));
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
            let policy = &route.policies[i];
            outcome = on_response(ex, &route, policy, reply)
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
    let params = decoded_params(ex.params());
    match &policy.kind {
        Kind::Worker(call) | Kind::Http(call) => {
            match ask(ex, route, policy, call, (&params, body.as_deref()), None).await? {
                Some(Verdict::Respond {
                    status,
                    headers,
                    body,
                }) => {
                    return Ok(Some(Reply::composed((status, headers, Some(body)))));
                }
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
            let changed = changes
                .request_body(body.as_deref().unwrap_or_default(), &inputs)
                .map_err(|reason| GatewayError::InvalidBody {
                    policy: policy.name.clone(),
                    reason,
                })?;
            ex.upstream_headers = upstream;
            ex.url.set_query(query.as_deref());
            ex.body = changed.or(ex.body.take());
        }
        Kind::Validate(validation) => {
            let (method, query, headers) = (&ex.ctx.method, ex.url.query(), &ex.headers);
            let parts = Parts {
                method,
                params: &params,
                query,
                headers,
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
            let answer = (mock.status, mock.headers.clone(), Some(mock.body.clone()));
            return Ok(Some(Reply::composed(answer)));
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
    // Most policies do nothing on the way out: no parameters to decode for them.
    if !policy.has_response_phase() {
        return Ok(reply);
    }
    let params = decoded_params(ex.params());
    match &policy.kind {
        Kind::Worker(call) | Kind::Http(call) if call.response_phase => {
            let head = Some((reply.status, reply.headers.as_slice()));
            match ask(ex, route, policy, call, (&params, None), head).await? {
                Some(Verdict::Respond {
                    status,
                    headers,
                    body,
                }) => {
                    return Ok(Reply::composed((status, headers, Some(body))));
                }
                Some(Verdict::Continue {
                    response_headers, ..
                }) => change(&mut reply.headers, &response_headers),
                None => {}
            }
        }
        Kind::Transform(transform) => {
            let changes = &transform.response;
            let inputs = inputs(ex, &params, &route.name);
            changes.headers(&mut reply.headers, &inputs);
            if changes.reads_answer(&reply.headers) {
                let bytes = match &reply.body {
                    Body::Origin(response) => platform::fetch::read_within(response, BODY_MS)
                        .await
                        .and_then(Result::ok),
                    Body::Bytes(bytes) => Some(bytes.clone()),
                    _ => None,
                };
                if let Some(bytes) = bytes {
                    reply.body =
                        Body::Bytes(changes.answer_body(&mut reply.headers, bytes, &inputs));
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
    let description = Description {
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
        body,
        response,
    };
    let key = (call.cache_seconds > 0).then(|| cache_key(&description));
    match call
        .ask(ex.env, describe(&description), key, platform::now_ms())
        .await
    {
        Ok(verdict) => Ok(Some(verdict)),
        Err(cause) if call.on_error == OnError::Allow => {
            platform::log(&allowed_failure(
                &ex.ctx.request_id,
                &route.name,
                &policy.name,
                &cause,
            ));
            Ok(None)
        }
        Err(cause) => Err(GatewayError::PolicyFailed {
            policy: policy.name.clone(),
            cause: format!("policy '{}': {cause}", policy.name),
        }),
    }
}

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
