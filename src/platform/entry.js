// The Worker's entry module: the one worker-build generates (./index.js), with every request
// answered even when the Wasm instance dies under it.
//
// A Rust panic aborts the instance: the requests it was serving would never settle, and the
// runtime would cancel them as hung (a bare 500, no log line). The panic hook
// (`platform::report_panics`) calls `__gatewayPanicked`, and each of those requests is answered
// here with the gateway's problem+json 500 and an access-log line, the panic as its cause. The
// next request runs on a fresh instance (worker-build's shim re-creates it). An exception out
// of the handler is answered the same way.
import Gateway from "./index.js";

export * from "./index.js";

const waiting = new Set();
globalThis.__gatewayPanicked = (message) => {
  for (const fail of waiting) fail(`panic: ${message}`);
  waiting.clear();
};

export default class extends Gateway {
  fetch(request) {
    const started = Date.now();
    const answer = (cause) => problem(request, started, cause);
    let fail;
    // Settled by whichever request panicked; its continuation runs in this request's context,
    // where this request's response must be made.
    const failed = new Promise((resolve) => {
      fail = resolve;
    });
    waiting.add(fail);
    let served;
    try {
      served = super.fetch(request).catch((error) => answer(`uncaught: ${error}`));
    } catch (error) {
      served = Promise.resolve(answer(`uncaught: ${error}`));
    }
    return Promise.race([served, failed.then(answer)]).finally(() => waiting.delete(fail));
  }
}

/** The problem the gateway answers for a failure inside it, and its access-log line. */
function problem(request, started, cause) {
  const incoming = request.headers.get("x-request-id");
  const requestId = incoming && /^[A-Za-z0-9._:-]{1,128}$/.test(incoming) ? incoming : crypto.randomUUID();
  let host = "";
  let path = "";
  try {
    const url = new URL(request.url);
    host = url.hostname.toLowerCase();
    path = url.pathname;
  } catch {
    // an unparsable URL is logged without them
  }
  console.log(JSON.stringify({
    type: "access", request_id: requestId, trace_id: null, span_id: null, method: request.method,
    host, path, route: null, service: null, auth: null, principal: null, status: 500,
    upstream_status: null, duration_ms: Date.now() - started, upstream_ms: null,
    config_version: null, rate_limit_calls: 0, cache: null, error_code: "internal-error",
    error_cause: String(cause).slice(0, 512),
  }));
  const body = {
    type: "urn:edge-gateway:problem:internal-error", title: "Internal Server Error", status: 500,
    detail: "The gateway failed to handle this request.", code: "internal-error", request_id: requestId,
  };
  return new Response(JSON.stringify(body), {
    status: 500,
    headers: { "content-type": "application/problem+json", "cache-control": "no-store", "x-request-id": requestId },
  });
}
