//! `gateway-config validate FILE...`: checks route documents offline, exactly as the Worker does.
//!
//! Prints every problem with its JSON path and exits 1 when any document is invalid, so it can
//! guard a push in scripts and CI. `--json` prints the result as JSON for tooling.
//!
//! `gateway-config import-openapi FILE [--service NAME] [--upstream URL] [--mock]`: prints a
//! route document made from an OpenAPI 3.x document (JSON; `npm run import-openapi` reads
//! YAML too), and on stderr what must still be filled in.

use std::process::ExitCode;

use edge_gateway::config::import::{import, ImportOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("import-openapi") {
        return import_openapi(&args[1..]);
    }
    let json = args.iter().any(|a| a == "--json");
    let files: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .skip(1)
        .collect();
    if args.first().map(String::as_str) != Some("validate") || files.is_empty() {
        eprintln!("usage: gateway-config validate [--json] FILE...");
        eprintln!(
            "       gateway-config import-openapi FILE [--service NAME] [--upstream URL] [--mock]"
        );
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

fn import_openapi(args: &[String]) -> ExitCode {
    let mut options = ImportOptions::default();
    let mut file = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--mock" => options.mock = true,
            "--service" => options.service = rest.next().cloned(),
            "--upstream" => options.upstream = rest.next().cloned(),
            _ if file.is_none() && !arg.starts_with("--") => file = Some(arg.clone()),
            _ => {
                eprintln!("import-openapi: unexpected argument '{arg}'");
                return ExitCode::from(2);
            }
        }
    }
    let Some(file) = file else {
        eprintln!(
            "usage: gateway-config import-openapi FILE [--service NAME] [--upstream URL] [--mock]"
        );
        return ExitCode::from(2);
    };
    let spec = match std::fs::read_to_string(&file)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            serde_json::from_str::<serde_json::Value>(&text).map_err(|e| e.to_string())
        }) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("{file}: cannot read an OpenAPI document: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (document, notes) = match import(&spec, &options) {
        Ok(made) => made,
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = serde_json::to_string_pretty(&document).unwrap_or_default();
    println!("{text}");
    for note in notes {
        eprintln!("to do: {note}");
    }
    // The routes are checked exactly as a push would be.
    match edge_gateway::config::compile(&text) {
        Ok(_) => ExitCode::SUCCESS,
        Err(errors) => {
            eprintln!(
                "the imported document does not validate yet ({} error(s)):",
                errors.len()
            );
            for error in &errors {
                eprintln!("  {error}");
            }
            ExitCode::FAILURE
        }
    }
}
