//! Detection and false-positive rates of the firewall on a corpus (`node bench/waf-corpus.mjs`
//! builds it from public packages and runs this). Reads JSON lines `{"class", "source",
//! "value"}` on stdin; `class` is `benign` or the attack's class. Each value is sent the ways
//! an API receives it — as a query parameter and as a string in a JSON body — and inspected at
//! each paranoia level with the default threshold. Prints one Markdown table.

use std::collections::BTreeMap;
use std::io::BufRead;

use edge_gateway::firewall::inspect::{inspect, Request};
use edge_gateway::firewall::settings::{Firewall, Mode, DEFAULT_BODY_BYTES, DEFAULT_THRESHOLD};

const AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";

fn main() {
    let mut rows: BTreeMap<(String, String), (usize, [usize; 8])> = BTreeMap::new();
    let firewalls: Vec<Firewall> = (1..=4)
        .map(|paranoia| Firewall {
            mode: Mode::Block,
            paranoia,
            threshold: DEFAULT_THRESHOLD,
            body_bytes: DEFAULT_BODY_BYTES,
            exclusions: Vec::new(),
            rules: Vec::new(),
        })
        .collect();
    let query_headers = vec![("user-agent".to_string(), AGENT.to_string())];
    let json_headers = vec![
        ("user-agent".to_string(), AGENT.to_string()),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    let mut refused_examples: Vec<String> = Vec::new();
    // `WAF_CORPUS_MISSES=sqli` lists that class's values PL1 lets through.
    let misses_of = std::env::var("WAF_CORPUS_MISSES").ok();
    let mut misses: Vec<String> = Vec::new();
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let Ok(item) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let text = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let (class, source, value) = (text("class"), text("source"), text("value"));
        let query = format!("q={}", encode(&value));
        let body = serde_json::json!({ "comment": value }).to_string();
        let row = rows.entry((class.clone(), source)).or_insert((0, [0; 8]));
        row.0 += 1;
        for (level, firewall) in firewalls.iter().enumerate() {
            let as_query = Request {
                method: "GET",
                path: "/search",
                query: Some(&query),
                headers: &query_headers,
                body: None,
                body_too_large: false,
                ip: None,
                cf: None,
            };
            let as_json = Request {
                method: "POST",
                path: "/comments",
                query: None,
                headers: &json_headers,
                body: Some(body.as_bytes()),
                body_too_large: false,
                ip: None,
                cf: None,
            };
            let (q, j) = (
                inspect(firewall, &as_query).refuse,
                inspect(firewall, &as_json).refuse,
            );
            row.1[level] += usize::from(q);
            row.1[4 + level] += usize::from(j);
            if level == 0 && misses_of.as_deref() == Some(class.as_str()) && !q && misses.len() < 60
            {
                misses.push(format!("{value:?}"));
            }
            if level == 0 && class == "benign" && (q || j) && refused_examples.len() < 15 {
                refused_examples.push(format!(
                    "{value:?} → {:?}",
                    inspect(firewall, &as_query).rule_ids()
                ));
            }
        }
    }
    println!("| class | source | values | PL1 query / JSON | PL2 | PL3 | PL4 |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for ((class, source), (n, counts)) in &rows {
        let pct = |c: usize| 100.0 * c as f64 / (*n).max(1) as f64;
        let cells: Vec<String> = (0..4)
            .map(|l| format!("{:.1}% / {:.1}%", pct(counts[l]), pct(counts[4 + l])))
            .collect();
        println!("| {class} | {source} | {n} | {} |", cells.join(" | "));
    }
    for miss in &misses {
        println!("missed: {miss}");
    }
    if !refused_examples.is_empty() {
        println!(
            "\nBenign values refused at PL1 (first {}):",
            refused_examples.len()
        );
        for example in refused_examples {
            println!("- {example}");
        }
    }
}

/// Percent-encodes everything but unreserved characters, as a browser's form would.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
