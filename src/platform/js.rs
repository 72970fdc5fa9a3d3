//! The JavaScript the gateway runs inside the runtime, in one snippet so its helpers are shared.
//!
//! Each function is one crossing from Wasm: built from Wasm through `web-sys`, the upstream
//! call alone took fifteen (request, abort controller, timer, fetch), a Durable Object call
//! about a dozen, a body read one per chunk.
//!
//! Header maps cross as one string each way: names and values joined by NUL, which neither may
//! contain. Copying them one call per header (two strings each) costs a crossing per field in
//! each direction.

use worker::js_sys;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::JsValue;
use worker::web_sys;

// `fetch_until` aborts the subrequest when `ms` pass (not merely abandons it, so the origin
// connection is released) and resolves to `null` then; any other failure rejects. The timer is
// cleared once `read` (or, without one, the response headers) is done. `within` resolves to
// what `promise` resolves to, or to `null` once `ms` have passed.
#[wasm_bindgen(inline_js = r#"
function fetch_until(request, ms, read, fetcher) {
  const controller = new AbortController();
  let late = false;
  const timer = setTimeout(() => { late = true; controller.abort(); }, ms);
  const answer = fetcher === undefined
    ? fetch(request, { signal: controller.signal })
    : fetcher.fetch(request, { signal: controller.signal });
  return (read === undefined ? answer : answer.then(read)).then(
    (response) => { clearTimeout(timer); return response; },
    (error) => { clearTimeout(timer); if (late) return null; throw error; },
  );
}
function within(promise, ms) {
  let timer;
  const deadline = new Promise((resolve) => { timer = setTimeout(resolve, ms, null); });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
function watch(body, length) {
  const watched = { body, waiting: false, failed: false };
  if (body === undefined) return watched;
  // The same bytes, pumped through a stream of our own (a declared length stays declared), so
  // that it is known whether the subrequest is waiting for the client or for the origin.
  const through = length === undefined ? new TransformStream() : new FixedLengthStream(length);
  watched.body = through.readable;
  const reader = body.getReader();
  const writer = through.writable.getWriter();
  const client = (error) => { watched.failed = true; writer.abort(error).catch(() => {}); };
  (async () => {
    let received = 0;
    for (;;) {
      let chunk;
      watched.waiting = true;
      try { chunk = await reader.read(); } catch (error) { return client(error); } finally { watched.waiting = false; }
      if (chunk.done) {
        if (length !== undefined && received < length) return client(new Error("body shorter than Content-Length"));
        return writer.close().catch(() => {});
      }
      received += chunk.value.byteLength;
      // A write fails when the origin's side is gone: the fetch itself says why.
      try { await writer.write(chunk.value); } catch { return reader.cancel().catch(() => {}); }
    }
  })();
  return watched;
}
export function fetch_within(url, method, packed, body, length, ms) {
  const watched = watch(body, length);
  const request = new Request(url, { method, headers: unpack_headers(packed), body: watched.body, redirect: "manual" });
  // 0: the subrequest was waiting for the client's body, which never arrived in full.
  return fetch_until(request, ms).then(
    (response) => (response === null && watched.waiting ? 0 : response),
    (error) => { if (watched.failed) return 0; throw error; },
  );
}
export function text_within(url, method, packed, body, ms) {
  const request = new Request(url, { method, headers: unpack_headers(packed), body });
  return fetch_until(request, ms, async (response) =>
    [response.status, response.headers.get("cache-control") ?? "", await response.text()]);
}
export function bound_text_within(env, binding, url, method, packed, body, ms) {
  const fetcher = env[binding];
  if (fetcher === undefined || typeof fetcher.fetch !== "function") throw new Error(`no service bound as ${binding}`);
  const request = new Request(url, { method, headers: unpack_headers(packed), body });
  return fetch_until(request, ms, async (response) =>
    [response.status, response.headers.get("cache-control") ?? "", await response.text()], fetcher);
}
function b64url(bytes) {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}
function unb64url(text) {
  const plain = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(plain, (c) => c.charCodeAt(0));
}
async function aes_key(key) {
  return crypto.subtle.importKey("raw", unb64url(key), "AES-GCM", false, ["encrypt", "decrypt"]);
}
export async function seal(key, plaintext, aad) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new TextEncoder().encode(plaintext);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: new TextEncoder().encode(aad) }, await aes_key(key), data);
  const out = new Uint8Array(12 + sealed.byteLength);
  out.set(iv);
  out.set(new Uint8Array(sealed), 12);
  return b64url(out);
}
export async function open(key, sealed, aad) {
  try {
    const bytes = unb64url(sealed);
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.slice(0, 12), additionalData: new TextEncoder().encode(aad) }, await aes_key(key), bytes.slice(12));
    return new TextDecoder().decode(plain);
  } catch {
    return null;
  }
}
export async function pbkdf2(password, salt, iterations) {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256);
  return new Uint8Array(bits);
}
export function stream_of(bytes) {
  return new Response(bytes).body;
}
export function cf_of(request) {
  return request.cf === undefined ? "" : JSON.stringify(request.cf);
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
export function panicked(message) {
  globalThis.__gatewayPanicked?.(message);
}
export function pack_headers(headers) {
  let packed = "";
  for (const [name, value] of headers) packed += name + "\0" + value + "\0";
  return packed;
}
export function unpack_headers(packed) {
  const headers = new Headers();
  const parts = packed.split("\0");
  for (let i = 0; i + 1 < parts.length; i += 2) headers.append(parts[i], parts[i + 1]);
  return headers;
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    pub fn fetch_within(
        url: &str,
        method: &str,
        packed_headers: &str,
        body: &JsValue,
        length: Option<f64>,
        ms: f64,
    ) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(catch)]
    pub fn text_within(
        url: &str,
        method: &str,
        packed_headers: &str,
        body: Option<Vec<u8>>,
        ms: f64,
    ) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(catch)]
    pub fn bound_text_within(
        env: &worker::Env,
        binding: &str,
        url: &str,
        method: &str,
        packed_headers: &str,
        body: Option<Vec<u8>>,
        ms: f64,
    ) -> Result<js_sys::Promise, JsValue>;
    pub fn body_within(body: &web_sys::ReadableStream, ms: f64) -> js_sys::Promise;
    pub fn stream_of(bytes: Vec<u8>) -> web_sys::ReadableStream;
    pub fn pbkdf2(password: &str, salt: Vec<u8>, iterations: u32) -> js_sys::Promise;
    pub fn seal(key: &str, plaintext: &str, aad: &str) -> js_sys::Promise;
    pub fn open(key: &str, sealed: &str, aad: &str) -> js_sys::Promise;
    pub fn cf_of(request: &web_sys::Request) -> String;
    #[wasm_bindgen(catch)]
    pub fn object_call(
        env: &worker::Env,
        binding: &str,
        name: &str,
        method: &str,
        url: &str,
        body: Option<String>,
        ms: Option<f64>,
    ) -> Result<js_sys::Promise, JsValue>;
    pub fn panicked(message: &str);
    pub fn pack_headers(headers: &web_sys::Headers) -> String;
    #[wasm_bindgen(catch)]
    pub fn unpack_headers(packed: &str) -> Result<web_sys::Headers, JsValue>;
}
