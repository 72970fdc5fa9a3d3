//! Version routing: a request header's value may send a route's requests to another service
//! (API versions side by side).

use crate::http::header;

/// Sends requests to another service by a request header's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// Lower-case header name, such as `x-api-version`.
    pub header: String,
    /// Header value → service name.
    pub services: Vec<(String, String)>,
}

impl Versions {
    /// The service the request's header selects, if it names a listed version.
    pub fn select<'v>(&'v self, headers: &[(String, String)]) -> Option<&'v str> {
        let asked = header(headers, &self.header)?.trim();
        self.services
            .iter()
            .find(|(version, _)| version == asked)
            .map(|(_, service)| service.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pairs;

    #[test]
    fn the_header_selects_a_listed_version_only() {
        let versions = Versions {
            header: "x-api-version".into(),
            services: vec![("2".into(), "users-v2".into())],
        };
        assert_eq!(
            versions.select(&pairs(&[("x-api-version", " 2 ")])),
            Some("users-v2")
        );
        assert_eq!(versions.select(&pairs(&[("x-api-version", "3")])), None);
        assert_eq!(versions.select(&[]), None);
    }
}
