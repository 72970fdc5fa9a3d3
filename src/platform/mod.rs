//! The thin layer over the platform: clock, randomness, the console and bindings here; the
//! fetch and header crossings, Durable Object calls and KV listings in the files below.
//! Everything above it takes these values as inputs, so decisions stay plain functions that
//! host tests can drive. Nothing here imports the rest of the gateway.

pub mod fetch;
mod js;
pub mod kv;
pub mod object;

/// Milliseconds since the Unix epoch, from the platform clock (Workers advance it only across
/// I/O, which is what request timings need).
pub fn now_ms() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

/// How many random bytes are drawn from the platform's generator at a time. A request uses 44
/// (request id, trace id, upstream choice); one draw crosses into JavaScript four times, so
/// drawing for about ninety requests at once saves nearly twelve calls per request
/// (BENCHMARKS.md).
const RANDOM_POOL_BYTES: usize = 4096;

thread_local! {
    /// Bytes drawn and not yet handed out: `(bytes, next unused index)`.
    static RANDOM_POOL: std::cell::RefCell<(Vec<u8>, usize)> =
        const { std::cell::RefCell::new((Vec::new(), 0)) };
}

/// `N` bytes from the platform's cryptographic generator, handed out from a block drawn once
/// per `RANDOM_POOL_BYTES`; no byte is handed out twice. Ids made from them only need to be
/// unique, so if the generator ever fails the clock is mixed in instead of failing the request.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if N > RANDOM_POOL_BYTES {
        fill_random(&mut out);
        return out;
    }
    RANDOM_POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let (bytes, next) = &mut *pool;
        if bytes.len() < *next + N {
            bytes.resize(RANDOM_POOL_BYTES, 0);
            fill_random(bytes);
            *next = 0;
        }
        out.copy_from_slice(&bytes[*next..*next + N]);
        *next += N;
    });
    out
}

fn fill_random(bytes: &mut [u8]) {
    if getrandom::getrandom(bytes).is_err() {
        let mut seed = now_ms().to_bits();
        for byte in bytes {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *byte = seed.to_le_bytes()[0];
        }
    }
}

/// A random number for choices such as which upstream to call.
pub fn random_u32() -> u32 {
    u32::from_le_bytes(random_bytes::<4>())
}

/// The size of this instance's Wasm linear memory in bytes (0 off Wasm). It only grows: its
/// figure after many requests is the most the instance has needed at once.
pub fn wasm_memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size::<0>() as u64 * 65_536;
    #[cfg(not(target_arch = "wasm32"))]
    0
}

/// Writes one line to the log (Workers Logs in production, the terminal under `wrangler dev`).
pub fn log(line: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_log!("{line}");
    #[cfg(not(target_arch = "wasm32"))]
    println!("{line}");
}

/// Writes one line to the error log.
pub fn log_error(line: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_error!("{line}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{line}");
}

/// Makes a panic answerable: once per Wasm instance, chains a hook after the one the `worker`
/// crate installed (which logs the panic and marks the instance for re-creation) that tells
/// the Worker's entry module (`entry.js`). A panic aborts the instance, so the requests it was
/// serving would never settle; the entry module answers each of them with a problem instead.
pub fn report_panics() {
    #[cfg(target_arch = "wasm32")]
    {
        thread_local! {
            static REPORTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        if REPORTING.with(|reporting| reporting.replace(true)) {
            return;
        }
        let logged = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            logged(info);
            js::panicked(&info.to_string());
        }));
    }
}

/// PBKDF2-HMAC-SHA256 of `password` with `salt` (32 bytes), by the platform's WebCrypto.
pub async fn pbkdf2_sha256(
    password: &str,
    salt: Vec<u8>,
    iterations: u32,
) -> Result<Vec<u8>, String> {
    use worker::wasm_bindgen::JsCast;
    let derived =
        worker::wasm_bindgen_futures::JsFuture::from(js::pbkdf2(password, salt, iterations))
            .await
            .map_err(|e| worker::Error::from(e).to_string())?;
    Ok(derived.unchecked_into::<js_sys::Uint8Array>().to_vec())
}

/// `plaintext` encrypted and authenticated with AES-256-GCM under `key` (base64url of 32
/// bytes), bound to `aad`: base64url of a fresh 12-byte IV and the ciphertext.
pub async fn seal(key: &str, plaintext: &str, aad: &str) -> Result<String, String> {
    worker::wasm_bindgen_futures::JsFuture::from(js::seal(key, plaintext, aad))
        .await
        .map_err(|e| worker::Error::from(e).to_string())?
        .as_string()
        .ok_or_else(|| "sealing produced no text".into())
}

/// What [`seal`] sealed, or `None` when it was changed, sealed under another key or for
/// another `aad`.
pub async fn open(key: &str, sealed: &str, aad: &str) -> Option<String> {
    worker::wasm_bindgen_futures::JsFuture::from(js::open(key, sealed, aad))
        .await
        .ok()?
        .as_string()
}

/// The binding `name` and its function `method`, when the environment binds something that has
/// one. Bindings are found by what they do rather than by their class name, which differs
/// between the platform and a local stand-in (an RPC service in tests).
pub fn binding_method(env: &worker::Env, name: &str, method: &str) -> Option<Binding> {
    use worker::wasm_bindgen::{JsCast, JsValue};
    let binding = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(name)).ok()?;
    if binding.is_undefined() || binding.is_null() {
        return None;
    }
    let function = js_sys::Reflect::get(&binding, &JsValue::from_str(method)).ok()?;
    if !function.is_function() {
        return None;
    }
    Some(Binding {
        function: function.unchecked_into::<js_sys::Function>(),
        binding,
    })
}

/// A binding and one of its methods, from [`binding_method`].
pub struct Binding {
    pub binding: worker::wasm_bindgen::JsValue,
    pub function: js_sys::Function,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_are_never_handed_out_twice_across_refills() {
        // More draws than one block holds, so the pool refills at least twice.
        let draws: Vec<[u8; 24]> = (0..400).map(|_| random_bytes()).collect();
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert_eq!(distinct.len(), draws.len());
        assert!(draws.iter().all(|d| d.iter().any(|b| *b != 0)));
        let large: [u8; RANDOM_POOL_BYTES + 1] = random_bytes();
        assert!(large.iter().any(|b| *b != 0));
    }
}
