//! Signature verification timed inside WebAssembly, with the gateway's own code and the same
//! release profile as the deployable Worker, but without the runtime around it: what a cold
//! token's signature costs in Wasm, free of the request's noise (the Worker itself runs this
//! code for HMAC only; RSA, ECDSA and Ed25519 go to the runtime's WebCrypto). Built for
//! `wasm32-wasip1` and run under Node's WASI by `node bench/verify.mjs`, which mints the
//! tokens; also runs natively.
//!
//! Input (stdin): `[{"alg": "ES256", "jwk": {...}, "token": "..."}, ...]`.
//! Output: one line per case, `ALG MICROSECONDS-PER-VERIFICATION ITERATIONS`.

// A benchmark that cannot set up should stop loudly.
#![allow(clippy::expect_used)]

use std::io::Read;
use std::time::{Duration, Instant};

use edge_gateway::auth::keys::{self, Alg};
use jwt_compact::UntrustedToken;
use serde_json::Value;

fn main() {
    let budget = Duration::from_millis(
        std::env::args()
            .nth(1)
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(400),
    );
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .expect("cases on stdin");
    let cases: Vec<Value> = serde_json::from_str(&input).expect("a JSON array of cases");
    for case in &cases {
        let name = case["alg"].as_str().expect("alg");
        let alg = Alg::from_name(name).expect("a supported alg");
        let key = keys::from_jwk(&case["jwk"]).expect("a valid JWK");
        let token = case["token"].as_str().expect("token");
        // Parsing the token is part of what every cold token costs.
        let once = || {
            let parsed = UntrustedToken::new(token).expect("a well-formed token");
            keys::verify(&parsed, alg, &key).expect("a valid signature")
        };
        once();
        let started = Instant::now();
        let mut iterations = 0u32;
        while started.elapsed() < budget {
            std::hint::black_box(once());
            iterations += 1;
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
        println!("{name} {us:.1} {iterations}");
    }
}
