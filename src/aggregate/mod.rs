//! Fan-out: one client request becomes calls to several backends, run concurrently as far as
//! their dependencies allow, and their JSON responses are composed into one.
//!
//! A backend whose path uses another's field (`/users/{order.user_id}`) waits for that one;
//! everything else starts at once, at most [`MAX_OPEN`] subrequests open at a time (the
//! platform's limit per request). The route's `timeout_ms` bounds the whole fan-out and each
//! backend's own timeout its call; a call that runs out of time is aborted. A failed optional
//! backend is left out and named in `X-Gateway-Incomplete`; a failed required one fails the
//! request with 502 `backend-failed` or 504 `backend-timeout` naming it.

mod backend;
pub mod compose;
pub mod config;
mod parts;
pub mod template;

use std::collections::BTreeMap;

use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Map, Value};

use crate::error::GatewayError;
use crate::http::Head;
use crate::observe::otlp::{self, Kind};
use crate::observe::tracing::Tracer;
use crate::platform;
use crate::resilience::fallback::FALLBACK_HEADER;
use crate::resilience::service::Service;
use backend::{fetch, Outcome, Target};
use compose::{Compose, FieldRules};
pub use parts::PartCache;
use template::PathTemplate;

/// Subrequests one request may hold open at a time on Workers.
pub const MAX_OPEN: usize = 6;
/// Subrequests one request may make in all (the free plan's budget; paid plans allow more).
pub const SUBREQUEST_BUDGET: usize = 50;
/// The whole fan-out's deadline unless the route sets `timeout_ms`.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Response header naming the optional backends whose part is missing.
pub const INCOMPLETE_HEADER: &str = "x-gateway-incomplete";

/// A route's `aggregate` section.
#[derive(Debug, Clone)]
pub struct Aggregate {
    pub compose: Compose,
    pub backends: Vec<Backend>,
    /// Deadline for the whole fan-out.
    pub timeout_ms: u64,
    /// Add each backend's status and time under `_backends` in the body (default: no).
    pub report: bool,
}

/// One backend call of an aggregate route.
#[derive(Debug, Clone)]
pub struct Backend {
    pub name: String,
    pub service: String,
    pub path: PathTemplate,
    /// A failure fails the request (default); otherwise the part is left out.
    pub required: bool,
    /// The call's own deadline (default: the service's `timeout_ms`).
    pub timeout_ms: Option<u64>,
    pub fields: FieldRules,
    /// Body used in place of this backend's when it fails (marked in `X-Gateway-Fallback`).
    pub fallback: Option<Value>,
    /// Indexes of the backends this one needs a field of.
    pub depends_on: Vec<usize>,
}

/// The order in which `deps` (each backend's dependencies, by index) can run, or the names
/// of the backends on a cycle.
pub fn dependency_order(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let mut order = Vec::new();
    let mut placed = vec![false; deps.len()];
    while order.len() < deps.len() {
        let ready: Vec<usize> = (0..deps.len())
            .filter(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]))
            .collect();
        if ready.is_empty() {
            return Err((0..deps.len()).filter(|&i| !placed[i]).collect());
        }
        for i in ready {
            placed[i] = true;
            order.push(i);
        }
    }
    Ok(order)
}

/// What happened to one backend, as reported in `_backends`.
#[derive(Debug, Clone)]
struct Report {
    outcome: Outcome,
    ms: f64,
}

/// The composed answer: status, body and the optional backends left out.
#[derive(Debug)]
pub struct Composed {
    pub status: u16,
    pub body: Vec<u8>,
    pub incomplete: Vec<String>,
    /// Backends whose part is their fallback.
    pub fallbacks: Vec<String>,
    /// Status and headers of each backend answer the body is made of, when the request asked
    /// for them (a cached route judges the composition by them).
    pub answers: Vec<Head>,
}

impl Composed {
    /// The answer's headers: JSON, and which backends are missing or answered by a fallback.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        for (name, backends) in [
            (INCOMPLETE_HEADER, &self.incomplete),
            (FALLBACK_HEADER, &self.fallbacks),
        ] {
            if !backends.is_empty() {
                headers.push((name.to_string(), backends.join(", ")));
            }
        }
        headers
    }
}

/// What a fan-out needs from the request.
pub struct Request<'a> {
    pub params: &'a [(String, String)],
    pub query: Option<&'a str>,
    /// Headers for every backend call (already shaped for upstreams).
    pub headers: &'a [(String, String)],
    /// Keep each backend's response headers in [`Composed::answers`].
    pub keep_headers: bool,
    /// Where the parts of a cached composition are kept, on a cached route.
    pub cache: Option<PartCache<'a>>,
    /// Each backend call is a span, its attempts under it.
    pub tracer: &'a Tracer,
    /// For the services' global bulkheads.
    pub env: Option<&'a worker::Env>,
}

/// Runs the fan-out and composes the result.
pub async fn run(
    aggregate: &Aggregate,
    services: &BTreeMap<String, Service>,
    request: &Request<'_>,
) -> Result<Composed, GatewayError> {
    let started = platform::now_ms();
    let deadline = started + aggregate.timeout_ms as f64;
    let count = aggregate.backends.len();
    let mut reports: Vec<Option<Report>> = vec![None; count];
    let mut started_calls = vec![false; count];
    let mut running = FuturesUnordered::new();
    let query_pairs: Vec<(String, String)> = request
        .query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();

    loop {
        // Start everything whose dependencies are done, as far as the open-call limit allows;
        // a backend whose dependency failed fails without a call.
        let mut progressed = true;
        while progressed {
            progressed = false;
            for (i, backend) in aggregate.backends.iter().enumerate() {
                if started_calls[i] || running.len() >= MAX_OPEN {
                    continue;
                }
                let deps_done = backend.depends_on.iter().all(|&d| reports[d].is_some());
                if !deps_done {
                    continue;
                }
                started_calls[i] = true;
                progressed = true;
                let failed_dep = backend.depends_on.iter().find(|&&d| {
                    matches!(
                        reports[d],
                        Some(Report {
                            outcome: Outcome::Failed { .. },
                            ..
                        })
                    )
                });
                if let Some(&d) = failed_dep {
                    reports[i] = Some(Report {
                        outcome: Outcome::Failed {
                            status: None,
                            cause: format!("needs '{}', which failed", aggregate.backends[d].name),
                            timed_out: None,
                        },
                        ms: 0.0,
                    });
                    continue;
                }
                let path = backend.path.render(
                    |name| {
                        request
                            .params
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, v)| v.as_str())
                    },
                    |name| {
                        query_pairs
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, v)| v.clone())
                    },
                    |name, field| {
                        let index = aggregate.backends.iter().position(|b| b.name == name)?;
                        match &reports[index] {
                            Some(Report {
                                outcome: Outcome::Done { body, .. },
                                ..
                            }) => compose::lookup(body, field),
                            _ => None,
                        }
                    },
                );
                match (path, services.get(&backend.service)) {
                    (Ok(path), Some(service)) => {
                        let timeout = backend.timeout_ms.unwrap_or(service.timeout_ms);
                        let limits = (timeout, deadline);
                        running.push(call(i, &backend.name, service, path, request, limits));
                    }
                    (Err(cause), _) => {
                        reports[i] = Some(Report {
                            outcome: Outcome::Failed {
                                status: None,
                                cause,
                                timed_out: None,
                            },
                            ms: 0.0,
                        });
                    }
                    (Ok(_), None) => {
                        return Err(GatewayError::Internal {
                            cause: format!("backend '{}' names unknown service", backend.name),
                        })
                    }
                }
            }
        }
        match running.next().await {
            Some((i, report)) => reports[i] = Some(report),
            None => break,
        }
    }
    let reports: Vec<Report> = reports
        .into_iter()
        .map(|r| {
            r.unwrap_or(Report {
                outcome: Outcome::Failed {
                    status: None,
                    cause: "never started".into(),
                    timed_out: None,
                },
                ms: 0.0,
            })
        })
        .collect();
    compose_reports(aggregate, reports)
}

/// One backend call with its deadline: the smaller of its own timeout and what is left of the
/// route's, with the service's retries and circuit breaking, through the cache for the parts
/// of a cached composition. The body is read within the same deadline and must be JSON (or
/// empty).
async fn call(
    index: usize,
    backend: &str,
    service: &Service,
    path: String,
    asked: &Request<'_>,
    (timeout_ms, deadline_ms): (u64, f64),
) -> (usize, Report) {
    let started = platform::now_ms();
    let deadline = deadline_ms.min(started + timeout_ms as f64);
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path, None),
    };
    let span = asked.tracer.is_on().then(|| asked.tracer.new_id());
    let target = Target {
        service,
        path: &path,
        query: query.as_deref(),
        deadline_ms: deadline,
        tracer: asked.tracer,
        span,
        env: asked.env,
    };
    let outcome = match &asked.cache {
        Some(cache) => parts::call(cache, backend, &target, asked.headers).await,
        None => match fetch(&target, asked.headers, asked.keep_headers).await {
            Ok(read) => read.outcome(),
            Err(failed) => failed,
        },
    };
    if asked.tracer.is_on() {
        let mut attributes = vec![
            ("gateway.backend", otlp::Value::Text(backend.to_string())),
            ("gateway.service", otlp::Value::Text(service.name.clone())),
        ];
        let error = match &outcome {
            Outcome::Done { status, .. } => {
                attributes.push((
                    "http.response.status_code",
                    otlp::Value::Int(i64::from(*status)),
                ));
                None
            }
            Outcome::Failed { cause, .. } => Some(cause.clone()),
        };
        asked.tracer.record(
            &format!("backend {backend}"),
            Kind::Internal,
            started,
            None,
            span,
            attributes,
            error,
        );
    }
    (
        index,
        Report {
            outcome,
            ms: platform::now_ms() - started,
        },
    )
}

/// Turns the reports into the client's answer (a plain function, tested on the host).
fn compose_reports(aggregate: &Aggregate, reports: Vec<Report>) -> Result<Composed, GatewayError> {
    let single = aggregate.backends.len() == 1;
    let mut parts = Vec::new();
    let mut incomplete = Vec::new();
    let mut summary = Map::new();
    let mut status = 200;
    let mut fallbacks = Vec::new();
    let mut answers = Vec::new();
    for (backend, report) in aggregate.backends.iter().zip(reports) {
        let failed = match &report.outcome {
            Outcome::Done { status: s, .. } => !single && !(200..300).contains(s),
            Outcome::Failed { .. } => true,
        };
        if let (true, Some(body)) = (failed, &backend.fallback) {
            let cause = match &report.outcome {
                Outcome::Done { status: s, .. } => format!("answered {s}"),
                Outcome::Failed { cause, .. } => cause.clone(),
            };
            fallbacks.push(backend.name.clone());
            parts.push((backend.name.clone(), body.clone()));
            summary.insert(
                backend.name.clone(),
                json!({ "ok": false, "fallback": true, "ms": report.ms.round() as u64, "error": cause }),
            );
            continue;
        }
        let (ok, code, cause) = match report.outcome {
            // A single backend's status is the response's, whatever it is.
            Outcome::Done {
                status: s,
                headers,
                body,
            } if single || (200..300).contains(&s) => {
                status = if single { s } else { 200 };
                parts.push((backend.name.clone(), backend.fields.apply(body)));
                answers.push((s, headers));
                (true, Some(s), None)
            }
            Outcome::Done { status: s, .. } => {
                let cause = format!("answered {s}");
                if backend.required {
                    return Err(GatewayError::BackendFailed {
                        backend: backend.name.clone(),
                        cause,
                    });
                }
                (false, Some(s), Some(cause))
            }
            Outcome::Failed {
                status: s,
                cause,
                timed_out,
            } => {
                if backend.required {
                    return Err(match timed_out {
                        Some(timeout_ms) => GatewayError::BackendTimeout {
                            backend: backend.name.clone(),
                            timeout_ms,
                        },
                        None => GatewayError::BackendFailed {
                            backend: backend.name.clone(),
                            cause,
                        },
                    });
                }
                (false, s, Some(cause))
            }
        };
        if !ok {
            incomplete.push(backend.name.clone());
        }
        summary.insert(
            backend.name.clone(),
            json!({ "ok": ok, "status": code, "ms": report.ms.round() as u64, "error": cause }),
        );
    }
    let mut body = compose::compose(aggregate.compose, parts);
    if aggregate.report {
        body = match body {
            Value::Object(mut object) => {
                object.insert("_backends".into(), Value::Object(summary));
                Value::Object(object)
            }
            other => json!({ "items": other, "_backends": summary }),
        };
    }
    Ok(Composed {
        status,
        body: serde_json::to_vec(&body).unwrap_or_default(),
        incomplete,
        fallbacks,
        answers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(name: &str, required: bool) -> Backend {
        Backend {
            name: name.into(),
            service: "s".into(),
            path: PathTemplate::parse("/x", &[], &[]).expect("path"),
            required,
            timeout_ms: None,
            fields: FieldRules::default(),
            fallback: None,
            depends_on: vec![],
        }
    }

    fn aggregate(backends: Vec<Backend>, report: bool) -> Aggregate {
        Aggregate {
            compose: Compose::Nest,
            backends,
            timeout_ms: 1000,
            report,
        }
    }

    fn done(status: u16, body: Value) -> Report {
        Report {
            outcome: Outcome::Done {
                status,
                headers: vec![],
                body,
            },
            ms: 3.0,
        }
    }

    fn failed(timed_out: Option<u64>) -> Report {
        Report {
            outcome: Outcome::Failed {
                status: None,
                cause: "refused".into(),
                timed_out,
            },
            ms: 5.0,
        }
    }

    #[test]
    fn dependencies_order_backends_and_cycles_are_found() {
        assert_eq!(
            dependency_order(&[vec![1], vec![], vec![0, 1]]),
            Ok(vec![1, 0, 2])
        );
        assert_eq!(
            dependency_order(&[vec![1], vec![0], vec![]]),
            Err(vec![0, 1])
        );
    }

    #[test]
    fn optional_failures_leave_the_rest_and_are_reported() {
        let agg = aggregate(vec![backend("a", true), backend("b", false)], true);
        let out = compose_reports(&agg, vec![done(200, json!({"x": 1})), failed(None)])
            .expect("composed");
        assert_eq!(out.status, 200);
        assert_eq!(out.incomplete, vec!["b"]);
        assert_eq!(
            out.headers(),
            [
                ("content-type".to_string(), "application/json".to_string()),
                ("x-gateway-incomplete".to_string(), "b".to_string())
            ]
        );
        let body: Value = serde_json::from_slice(&out.body).expect("json");
        assert_eq!(body["a"], json!({"x": 1}));
        assert_eq!(body["_backends"]["b"]["ok"], json!(false));
        assert_eq!(body["_backends"]["a"]["status"], json!(200));
    }

    #[test]
    fn required_failures_name_the_backend() {
        let agg = aggregate(vec![backend("a", true), backend("b", true)], false);
        let err = compose_reports(&agg, vec![done(200, json!({})), failed(Some(300))]).unwrap_err();
        assert_eq!(
            err,
            GatewayError::BackendTimeout {
                backend: "b".into(),
                timeout_ms: 300
            }
        );
        let err =
            compose_reports(&agg, vec![done(500, json!({})), done(200, json!({}))]).unwrap_err();
        assert!(matches!(err, GatewayError::BackendFailed { backend, .. } if backend == "a"));
    }

    #[test]
    fn a_single_backend_keeps_its_status() {
        let agg = aggregate(vec![backend("only", true)], false);
        let out = compose_reports(&agg, vec![done(404, json!({"error": "no"}))]).expect("composed");
        assert_eq!(out.status, 404);
        let agg = Aggregate {
            compose: Compose::Merge,
            ..agg
        };
        let out = compose_reports(&agg, vec![done(201, json!({"id": 1}))]).expect("composed");
        assert_eq!((out.status, out.body), (201, br#"{"id":1}"#.to_vec()));
    }
}
