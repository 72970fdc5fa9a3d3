//! Protocol anomalies and scanners, read from the request's head: methods no API takes, the
//! signs of request smuggling, encodings that only evasion produces, and the names the common
//! scanners announce themselves with.

use super::normalize::{contains_any, Oddities};

pub const METHOD: u32 = 920100;
pub const SMUGGLING: u32 = 920170;
pub const LENGTHS: u32 = 920180;
pub const TRANSFER_ENCODING: u32 = 920190;
pub const BAD_PERCENT: u32 = 920220;
pub const MULTIPLE_ENCODING: u32 = 920230;
pub const OVERLONG: u32 = 920250;
pub const INVALID_UTF8: u32 = 920260;
pub const NUL: u32 = 920270;
pub const CONTROL: u32 = 920271;
pub const LINE_BREAK: u32 = 920275;
pub const NO_USER_AGENT: u32 = 920320;
pub const BODY_TOO_LARGE: u32 = 920400;
pub const BODY_MALFORMED: u32 = 920410;
pub const SCANNER_AGENT: u32 = 913100;
pub const SCANNER_HEADER: u32 = 913110;

const SCANNERS: &[&str] = &[
    "sqlmap",
    "nikto",
    "nmap",
    "masscan",
    "nessus",
    "openvas",
    "w3af",
    "acunetix",
    "netsparker",
    "dirbuster",
    "gobuster",
    "dirb/",
    "ffuf",
    "wfuzz",
    "wpscan",
    "nuclei",
    "zgrab",
    "havij",
    "arachni",
    "skipfish",
    "whatweb",
    "jaeles",
    "commix",
    "xsstrike",
    "zmeu",
    "morfeus",
    "grabber",
    "paros",
    "webinspect",
    "appscan",
    "burpcollaborator",
    "qualys",
    "metasploit",
    "hydra",
    "brutus",
    "nessus",
    "vega/",
    "webshag",
    "wapiti",
    "dotdotpwn",
    "fimap",
    "bsqlbf",
    "sqlninja",
    "pangolin",
    "absinthe",
    "x-scan",
    "wafw00f",
    "feroxbuster",
    "dirsearch",
    "httprint",
    "joomscan",
    "cgichk",
    "zap/",
    "owasp zap",
    "crimscanner",
    "floodgate",
];
const SCANNER_HEADERS: &[&str] = &[
    "acunetix-product",
    "acunetix-scanning-agreement",
    "acunetix-user-agreement",
    "x-wipp",
    "x-scanner",
    "x-ratproxy-loop",
    "bwapp",
    "x-burp-test",
];

/// The head's anomalies: `method` and the lower-case header pairs.
pub fn head(method: &str, headers: &[(String, String)], hits: &mut Vec<u32>) {
    if !matches!(
        method,
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS"
    ) {
        hits.push(METHOD);
    }
    fn all<'h>(headers: &'h [(String, String)], name: &'h str) -> impl Iterator<Item = &'h str> {
        headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    let lengths: Vec<&str> = all(headers, "content-length")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if lengths.len() > 1 && lengths.windows(2).any(|w| w[0] != w[1])
        || lengths
            .iter()
            .any(|l| l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()))
    {
        hits.push(LENGTHS);
    }
    let codings: Vec<String> = all(headers, "transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if !codings.is_empty() {
        if !lengths.is_empty() {
            hits.push(SMUGGLING);
        }
        if codings.last().map(String::as_str) != Some("chunked") || codings.len() > 1 {
            hits.push(TRANSFER_ENCODING);
        }
    }
    match all(headers, "user-agent").next() {
        None => hits.push(NO_USER_AGENT),
        Some(agent) if agent.trim().is_empty() => hits.push(NO_USER_AGENT),
        Some(agent) => {
            let agent = agent.to_ascii_lowercase();
            if contains_any(&agent, SCANNERS) {
                hits.push(SCANNER_AGENT);
            }
        }
    }
    if headers
        .iter()
        .any(|(n, _)| SCANNER_HEADERS.contains(&n.as_str()))
    {
        hits.push(SCANNER_HEADER);
    }
}

/// The rules for what decoding a value found odd.
pub fn oddities(odd: Oddities, hits: &mut Vec<u32>) {
    for (found, rule) in [
        (odd.bad_percent, BAD_PERCENT),
        (odd.multiple_encoding, MULTIPLE_ENCODING),
        (odd.overlong, OVERLONG),
        (odd.invalid_utf8, INVALID_UTF8),
        (odd.nul, NUL),
        (odd.control, CONTROL),
        (odd.line_break, LINE_BREAK),
    ] {
        if found {
            hits.push(rule);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(method: &str, headers: &[(&str, &str)]) -> Vec<u32> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let mut hits = Vec::new();
        head(method, &headers, &mut hits);
        hits
    }

    #[test]
    fn anomalies_of_the_head() {
        let agent = ("user-agent", "curl/8");
        assert_eq!(rules("GET", &[agent]), Vec::<u32>::new());
        assert_eq!(rules("TRACE", &[agent]), vec![METHOD]);
        assert_eq!(
            rules(
                "POST",
                &[
                    agent,
                    ("content-length", "5"),
                    ("transfer-encoding", "chunked")
                ]
            ),
            vec![SMUGGLING]
        );
        assert_eq!(
            rules("POST", &[agent, ("content-length", "5, 6")]),
            vec![LENGTHS]
        );
        assert_eq!(
            rules(
                "POST",
                &[agent, ("content-length", "5"), ("content-length", "5")]
            ),
            Vec::<u32>::new()
        );
        assert_eq!(
            rules("POST", &[agent, ("transfer-encoding", "chunked, identity")]),
            vec![TRANSFER_ENCODING]
        );
        assert_eq!(rules("GET", &[]), vec![NO_USER_AGENT]);
        assert_eq!(
            rules("GET", &[("user-agent", "sqlmap/1.8 (https://sqlmap.org)")]),
            vec![SCANNER_AGENT]
        );
        assert_eq!(
            rules("GET", &[agent, ("acunetix-product", "x")]),
            vec![SCANNER_HEADER]
        );
    }
}
