//! `gateway-config validate FILE...`: checks route documents offline, exactly as the Worker does.
//!
//! Prints every problem with its JSON path and exits 1 when any document is invalid, so it can
//! guard a push in scripts and CI. `--json` prints the result as JSON for tooling.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let files: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .skip(1)
        .collect();
    if args.first().map(String::as_str) != Some("validate") || files.is_empty() {
        eprintln!("usage: gateway-config validate [--json] FILE...");
        return ExitCode::from(2);
    }
    let mut failed = false;
    let mut report = Vec::new();
    for file in files {
        let result = match std::fs::read_to_string(file) {
            Ok(text) => edge_gateway::config::compile(&text)
                .map(|g| (g.version.clone(), g.routes.routes().len())),
            Err(e) => Err(vec![edge_gateway::reader::ConfigError {
                path: "$".into(),
                message: format!("cannot read {file}: {e}"),
            }]),
        };
        match result {
            Ok((version, routes)) => {
                if !json {
                    println!("{file}: valid ({routes} routes, version {version})");
                }
                report.push(serde_json::json!({"file": file, "valid": true, "version": version, "routes": routes}));
            }
            Err(errors) => {
                failed = true;
                if !json {
                    eprintln!("{file}: {} error(s)", errors.len());
                    for error in &errors {
                        eprintln!("  {error}");
                    }
                }
                report.push(serde_json::json!({"file": file, "valid": false, "errors": errors}));
            }
        }
    }
    if json {
        println!("{}", serde_json::Value::Array(report));
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
