//! The web application firewall: a request's path, query, headers, cookies and body (form,
//! JSON with every string's JSON Pointer, multipart fields and file names) are decoded the ways
//! attackers encode them and read by detectors for SQL injection and cross-site scripting
//! (tokenizing, in the spirit of libinjection), path traversal and file inclusion, command
//! injection, PHP / Node.js / Java code injection, SSRF, protocol anomalies and scanners. Each
//! matching rule adds its score; a request that reaches the route's threshold is refused
//! (`block`) or passes with its findings logged (`log`), as the OWASP Core Rule Set's anomaly
//! scoring does. No detector backtracks: each reads a value a bounded number of times.

pub mod config;
pub mod custom;
pub mod inject;
pub mod inspect;
pub mod normalize;
pub mod protocol;
pub mod rules;
pub mod settings;
pub mod sqli;
pub mod ssrf;
pub mod targets;
pub mod traversal;
pub mod xss;
