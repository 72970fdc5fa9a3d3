//! Route table and matching.
//!
//! Precedence, from strongest to weakest:
//! 1. routes with a `host` equal to the request's host, before routes without one;
//! 2. within one table, matchit's order: static segments, then `{param}`, then `{*catch_all}`;
//! 3. among routes with the same host and path, the one whose `methods` accepts the request.
//!
//! A path that matches with no route accepting the method is answered 405 with `Allow` listing
//! every method that would have matched.

pub mod config;
pub mod methods;
pub mod pattern;
pub mod versions;

use std::collections::HashMap;

use crate::error::GatewayError;
use crate::reader::{index_path, key_path, Errors};
use methods::MethodSet;

/// What the table needs to know of a route; the route itself is the configuration's.
pub trait Routable {
    fn name(&self) -> &str;
    /// Index in the document's `routes` array, for error paths.
    fn position(&self) -> usize;
    /// Lower-case host without port, or any host.
    fn host(&self) -> Option<&str>;
    /// The matchit pattern, for example `/users/{id}`.
    fn pattern(&self) -> &str;
    fn methods(&self) -> MethodSet;
}

/// The compiled routes of one configuration.
#[derive(Debug)]
pub struct RouteTable<R> {
    routes: Vec<R>,
    /// Each matchit value indexes `entries`; an entry lists the routes sharing one host and path.
    entries: Vec<Vec<usize>>,
    by_host: HashMap<String, matchit::Router<usize>>,
    any_host: matchit::Router<usize>,
}

/// A route chosen for a request, with its index in [`RouteTable::routes`] and the path
/// parameters it captured (still percent-encoded).
#[derive(Debug)]
pub struct Matched<'t, R> {
    pub index: usize,
    pub route: &'t R,
    pub params: Vec<(String, String)>,
}

impl<R> Matched<'_, R> {
    /// The value captured for `name`, if the route has such a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }
}

/// The parameters a pattern captured (still percent-encoded), decoded.
pub fn decoded_params(params: &[(String, String)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(name, value)| {
            let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            (name.clone(), value.into_owned())
        })
        .collect()
}

/// The value captured for `name` among `params`.
pub fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

impl<R: Routable> RouteTable<R> {
    /// Builds the table, recording conflicting routes in `errors` at `$.routes[i]`.
    pub fn build(routes: Vec<R>, errors: &mut Errors) -> Self {
        let mut table = Self {
            routes: Vec::new(),
            entries: Vec::new(),
            by_host: HashMap::new(),
            any_host: matchit::Router::new(),
        };
        // (host, path) -> entry index, to group routes that differ only by method.
        let mut registered: HashMap<(Option<String>, String), usize> = HashMap::new();
        for route in routes {
            let route_path = index_path("$.routes", route.position());
            let key = (
                route.host().map(str::to_string),
                route.pattern().to_string(),
            );
            let index = table.routes.len();
            if let Some(&entry) = registered.get(&key) {
                let clash = table.entries[entry]
                    .iter()
                    .map(|&i| &table.routes[i])
                    .find(|other| other.methods().overlaps(route.methods()));
                if let Some(other) = clash {
                    errors.push(
                        &key_path(&route_path, "methods"),
                        format!(
                            "route '{}' already takes some of these methods on the same host and path",
                            other.name()
                        ),
                    );
                    continue;
                }
                table.entries[entry].push(index);
                table.routes.push(route);
                continue;
            }
            let entry = table.entries.len();
            let router = match route.host() {
                Some(host) => table.by_host.entry(host.to_string()).or_default(),
                None => &mut table.any_host,
            };
            if let Err(error) = router.insert(route.pattern(), entry) {
                let message = match error {
                    matchit::InsertError::Conflict { with } => {
                        let owner = registered
                            .iter()
                            .find(|((host, path), _)| {
                                host.as_deref() == route.host() && *path == with
                            })
                            .and_then(|(_, &e)| table.entries[e].first())
                            .map(|&i| format!(" of route '{}'", table.routes[i].name()))
                            .unwrap_or_default();
                        format!(
                            "'{}' conflicts with the path '{with}'{owner}",
                            route.pattern()
                        )
                    }
                    other => format!("'{}' is not a valid pattern: {other}", route.pattern()),
                };
                errors.push(&key_path(&route_path, "path"), message);
                continue;
            }
            registered.insert(key, entry);
            table.entries.push(vec![index]);
            table.routes.push(route);
        }
        table
    }

    /// All routes in document order.
    pub fn routes(&self) -> &[R] {
        &self.routes
    }

    /// Finds the route for a request. `host` is lower case without a port; `path` is the raw,
    /// still percent-encoded path.
    pub fn resolve(
        &self,
        method: &str,
        host: &str,
        path: &str,
    ) -> Result<Matched<'_, R>, GatewayError> {
        let tables = [self.by_host.get(host), Some(&self.any_host)];
        let mut allowed = MethodSet::empty();
        let mut path_matched = false;
        for router in tables.into_iter().flatten() {
            let Ok(found) = router.at(path) else { continue };
            path_matched = true;
            for &index in &self.entries[*found.value] {
                let route = &self.routes[index];
                if route.methods().accepts(method) {
                    let params = found
                        .params
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    return Ok(Matched {
                        index,
                        route,
                        params,
                    });
                }
                allowed = allowed.union(route.methods());
            }
        }
        if path_matched {
            Err(GatewayError::MethodNotAllowed {
                allow: allowed.names().map(str::to_string).collect(),
            })
        } else {
            Err(GatewayError::RouteNotFound)
        }
    }
}
