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

/// `N` bytes from the platform's cryptographic generator. Ids made from them only need to be
/// unique, so if the generator ever fails the clock is mixed in instead of failing the request.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::getrandom(&mut bytes).is_err() {
        let mut seed = now_ms().to_bits();
        for byte in &mut bytes {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *byte = seed.to_le_bytes()[0];
        }
    }
    bytes
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

/// Runs `future` for at most `ms` milliseconds; `None` when the deadline came first. The future
/// is dropped then, so callers that started I/O must cancel it themselves (see `upstream::send`).
pub async fn with_deadline<F: std::future::Future>(future: F, ms: u64) -> Option<F::Output> {
    use futures_util::future::{select, Either};
    let deadline = worker::Delay::from(std::time::Duration::from_millis(ms));
    match select(Box::pin(future), deadline).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}
