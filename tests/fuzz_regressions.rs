//! Every input that once made a fuzz target fail, replayed: `fuzz/regressions/<target>/*`.
//! `npm run fuzz` copies the inputs it finds there; the seeds in `fuzz/seeds/` are replayed too.

#![allow(clippy::expect_used)]

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::Path;

#[test]
fn every_kept_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for folder in ["regressions", "seeds"] {
        let Ok(targets) = std::fs::read_dir(root.join(folder)) else {
            continue;
        };
        for target in targets {
            let target = target.expect("entry").path();
            let name = target
                .file_name()
                .and_then(|n| n.to_str())
                .expect("a target's folder")
                .to_string();
            for input in std::fs::read_dir(&target).expect("a target's inputs") {
                let input = input.expect("entry").path();
                let data = std::fs::read(&input).expect("readable");
                assert!(targets::run(&name, &data), "no fuzz target named '{name}'");
                replayed += 1;
            }
        }
    }
    assert!(replayed > 0, "the seeds are replayed at least");
}

#[test]
fn every_target_takes_empty_and_odd_input() {
    for (name, target) in targets::TARGETS {
        for data in [
            &b""[..],
            b"\0",
            b"\xff\xfe",
            b"{\"version\":1}",
            b"a: b\nc: d",
        ] {
            target(data);
        }
        assert!(targets::run(name, b""));
    }
    assert!(!targets::run("nothing", b""));
}
