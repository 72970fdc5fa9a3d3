//! Durable Object calls, each one crossing into JavaScript.

/// Calls the object named `name` in the Durable Object namespace `binding`: `method` to
/// `https://{binding}{path}` (lower case, `-` for `_`) with an optional body, for at most
/// `timeout_ms` if given; the text of a 2xx answer. A deadline that passes abandons the call
/// (the object still finishes what it started).
///
/// One call into JavaScript: through the `worker` crate's stub, request and response types
/// this took about a dozen, a timer closure raced with the call, and a chunk-by-chunk read of
/// the answer's stream.
pub async fn call(
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
        let promise = super::js::object_call(
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

/// Asks an object for its versioned state at `path`, with `?since=V` when the caller holds
/// version `V`: the object answers its version, and the state only when it moved.
pub async fn poll<T: serde::de::DeserializeOwned>(
    env: &worker::Env,
    (binding, name): (&str, &str),
    path: &str,
    since: Option<u64>,
    timeout_ms: u64,
) -> Result<T, String> {
    let path = match since {
        Some(version) => format!("{path}?since={version}"),
        None => path.to_string(),
    };
    let text = call(env, binding, name, "GET", &path, None, Some(timeout_ms)).await?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}
