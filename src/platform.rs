//! The thin layer over the platform: clock, randomness and the console. Everything above it takes
//! these values as inputs, so decisions stay plain functions that host tests can drive.

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

/// Calls the object named `name` in the Durable Object namespace `binding`: `method` to
/// `https://{binding}{path}` (lower case, `-` for `_`) with an optional body, for at most
/// `timeout_ms` if given; the text of a 2xx answer. A deadline that passes abandons the call
/// (the object still finishes what it started).
///
/// One call into JavaScript: through the `worker` crate's stub, request and response types
/// this took about a dozen, a timer closure raced with the call, and a chunk-by-chunk read of
/// the answer's stream.
pub async fn call_object(
    env: &worker::Env,
    binding: &str,
    name: &str,
    method: &str,
    path: &str,
    body: Option<String>,
    timeout_ms: Option<u64>,
) -> Result<String, String> {
    #[cfg(target_arch = "wasm32")]
    {
        let url = format!(
            "https://{}{path}",
            binding.to_ascii_lowercase().replace('_', "-")
        );
        let message = |e: worker::wasm_bindgen::JsValue| worker::Error::from(e).to_string();
        // Timeouts are whole milliseconds well below the timer's 2^31 limit (validated config).
        let promise = js::object_call(
            env,
            binding,
            name,
            method,
            &url,
            body,
            timeout_ms.map(|ms| ms as f64),
        )
        .map_err(|e| format!("binding {binding}: {}", message(e)))?;
        match worker::wasm_bindgen_futures::JsFuture::from(promise).await {
            Ok(answer) => match answer.as_string() {
                Some(text) => Ok(text),
                None => Err(format!(
                    "no answer within {} ms",
                    timeout_ms.unwrap_or_default()
                )),
            },
            Err(e) => Err(message(e)),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (env, name, method, path, body, timeout_ms);
        Err(format!(
            "binding {binding}: Durable Objects exist only in the Worker"
        ))
    }
}

/// The whole body of `response`, read within `ms`; `None` when the deadline passes first.
/// One call into JavaScript, the runtime reading the stream natively: reading it chunk by
/// chunk from Wasm under a timer future took about sixteen.
pub async fn read_within(response: &worker::Response, ms: u64) -> Option<Result<Vec<u8>, String>> {
    use worker::ResponseBody;
    let stream = match response.body() {
        ResponseBody::Empty => return Some(Ok(Vec::new())),
        ResponseBody::Body(bytes) => return Some(Ok(bytes.clone())),
        ResponseBody::Stream(stream) => stream,
    };
    #[cfg(target_arch = "wasm32")]
    {
        use worker::wasm_bindgen::JsCast;
        // Deadlines are whole milliseconds well below the timer's 2^31 limit (validated config).
        match worker::wasm_bindgen_futures::JsFuture::from(js::body_within(stream, ms as f64)).await
        {
            Ok(answer) if answer.is_null() => None,
            Ok(bytes) => Some(Ok(bytes.unchecked_into::<js_sys::Uint8Array>().to_vec())),
            Err(error) => Some(Err(worker::Error::from(error).to_string())),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (stream, ms);
        Some(Err("response bodies exist only in the Worker".into()))
    }
}

#[cfg(target_arch = "wasm32")]
mod js {
    use worker::js_sys;
    use worker::wasm_bindgen::prelude::wasm_bindgen;

    // `within` resolves to what `promise` resolves to, or to `null` once `ms` have passed.
    // `object_call` resolves to the answer's text and rejects with "answered STATUS" for an
    // answer outside 2xx, or with the runtime's error.
    #[wasm_bindgen(inline_js = r#"
function within(promise, ms) {
  let timer;
  const deadline = new Promise((resolve) => { timer = setTimeout(resolve, ms, null); });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
export function body_within(body, ms) {
  return within(new Response(body).arrayBuffer().then((buffer) => new Uint8Array(buffer)), ms);
}
export function object_call(env, binding, name, method, url, body, ms) {
  const namespace = env[binding];
  if (namespace === undefined) throw new Error("not bound");
  const stub = namespace.get(namespace.idFromName(name));
  const answer = stub.fetch(url, { method, body }).then(async (response) => {
    const text = await response.text();
    if (response.status < 200 || response.status > 299) throw new Error(`answered ${response.status}`);
    return text;
  });
  return ms === undefined ? answer : within(answer, ms);
}
"#)]
    extern "C" {
        #[wasm_bindgen(catch)]
        pub fn object_call(
            env: &worker::Env,
            binding: &str,
            name: &str,
            method: &str,
            url: &str,
            body: Option<String>,
            ms: Option<f64>,
        ) -> Result<js_sys::Promise, worker::wasm_bindgen::JsValue>;
        pub fn body_within(body: &worker::web_sys::ReadableStream, ms: f64) -> js_sys::Promise;
    }
}

/// Every key under `prefix` in `kv`, listing at most `max_pages` pages (1,000 keys each);
/// `false` with the keys when there were more.
pub async fn kv_keys(
    kv: &worker::kv::KvStore,
    prefix: &str,
    max_pages: usize,
) -> Result<(Vec<worker::kv::Key>, bool), String> {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..max_pages {
        let mut list = kv.list().prefix(prefix.to_string());
        if let Some(cursor) = cursor.take() {
            list = list.cursor(cursor);
        }
        let page = list.execute().await.map_err(|e| e.to_string())?;
        keys.extend(page.keys);
        if page.list_complete {
            return Ok((keys, true));
        }
        cursor = page.cursor;
    }
    Ok((keys, false))
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
