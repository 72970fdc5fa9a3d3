//! Client certificates: the platform terminates mutual TLS and reports the client's certificate
//! in `request.cf.tlsClientAuth`; a verified certificate whose SHA-256 fingerprint or subject is
//! listed maps to a consumer.

use serde_json::Value;

use super::api_key::Consumer;

/// Consumers by certificate (the document's `auth.client_certificates`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Certificates {
    /// (lower-case hex SHA-256 fingerprints, subject DNs, consumer).
    pub consumers: Vec<(Vec<String>, Vec<String>, Consumer)>,
}

/// What the platform said of the client's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    None,
    /// Presented but not verified by the platform (with its verdict).
    Unverified(String),
    Verified {
        fingerprint: String,
        subject: String,
    },
}

/// Reads `tlsClientAuth` from the platform's `cf` object.
pub fn presented(cf: Option<&Value>) -> Presented {
    let Some(auth) = cf.and_then(|cf| cf.get("tlsClientAuth")) else {
        return Presented::None;
    };
    let text = |name: &str| {
        auth.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    if text("certPresented") != "1" {
        return Presented::None;
    }
    let verdict = text("certVerified");
    if verdict != "SUCCESS" {
        return Presented::Unverified(verdict);
    }
    Presented::Verified {
        fingerprint: text("certFingerprintSHA256").to_ascii_lowercase(),
        subject: text("certSubjectDN"),
    }
}

impl Certificates {
    /// The consumer of a verified certificate, if it is listed.
    pub fn consumer(&self, fingerprint: &str, subject: &str) -> Option<&Consumer> {
        self.consumers
            .iter()
            .find(|(prints, subjects, _)| {
                prints.iter().any(|p| p == fingerprint) || subjects.iter().any(|s| s == subject)
            })
            .map(|(_, _, consumer)| consumer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_verified_listed_certificates_name_a_consumer() {
        let alice = Consumer {
            name: "alice".into(),
            scopes: vec![],
            plan: None,
            disabled: false,
        };
        let certificates = Certificates {
            consumers: vec![(vec!["ab12".into()], vec!["CN=bob".into()], alice.clone())],
        };
        let cf = json!({"tlsClientAuth": {"certPresented": "1", "certVerified": "SUCCESS", "certFingerprintSHA256": "AB12", "certSubjectDN": "CN=x"}});
        let Presented::Verified {
            fingerprint,
            subject,
        } = presented(Some(&cf))
        else {
            panic!()
        };
        assert_eq!(certificates.consumer(&fingerprint, &subject), Some(&alice));
        assert_eq!(certificates.consumer("ff", "CN=bob"), Some(&alice));
        assert_eq!(certificates.consumer("ff", "CN=eve"), None);
        let failed = json!({"tlsClientAuth": {"certPresented": "1", "certVerified": "FAILED:self signed certificate"}});
        assert_eq!(
            presented(Some(&failed)),
            Presented::Unverified("FAILED:self signed certificate".into())
        );
        assert_eq!(
            presented(Some(&json!({"tlsClientAuth": {"certPresented": "0"}}))),
            Presented::None
        );
        assert_eq!(presented(None), Presented::None);
    }
}
