// Shared by the command scripts: talking to a gateway's admin API (local or deployed) and to
// KV through wrangler.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export function fail(message, code = 1) {
  console.error(message);
  process.exit(code);
}

/// Splits `--gateway URL` and `--token T` off `args`; the rest is returned for the command.
/// The gateway defaults to GATEWAY_URL or http://127.0.0.1:8787; the token to
/// GATEWAY_ADMIN_TOKEN, then ADMIN_TOKEN in .dev.vars (written by `npm run dev`).
export function adminOptions(args, usage) {
  const rest = [];
  const options = {
    gateway: process.env.GATEWAY_URL ?? "http://127.0.0.1:8787",
    token: process.env.GATEWAY_ADMIN_TOKEN,
    prefix: process.env.GATEWAY_ADMIN_PREFIX ?? "/__gateway",
  };
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--gateway" || args[i] === "--token") {
      const value = args[i + 1];
      if (value === undefined || value.startsWith("--")) fail(`${args[i]} needs a value\n${usage}`, 2);
      options[args[i].slice(2)] = value;
      i++;
    } else {
      rest.push(args[i]);
    }
  }
  return { options, rest };
}

/// One admin API call. Returns the parsed JSON body; exits with the problem's detail (and
/// every listed error) when the gateway refuses, unless `allow` lists the status.
export async function admin(options, method, route, body, { headers = {}, allow = [] } = {}) {
  const token = options.token ?? devToken();
  if (!token) fail("no admin token: pass --token, set GATEWAY_ADMIN_TOKEN, or run `npm run dev` (it writes .dev.vars)", 2);
  const url = new URL(`${options.prefix}/${route}`, options.gateway);
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      body,
    });
  } catch (e) {
    fail(`cannot reach ${url}: ${e.cause?.message ?? e.message}`);
  }
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { detail: text };
  }
  if (allow.includes(response.status)) return { status: response.status, ...json };
  if (!response.ok) {
    const errors = (json.errors ?? []).map((e) => `  ${e.path}: ${e.message}`).join("\n");
    fail(`refused (${response.status} ${json.code ?? ""}): ${json.detail ?? text}${errors ? `\n${errors}` : ""}`);
  }
  return json;
}

function devToken() {
  try {
    const vars = fs.readFileSync(path.join(ROOT, ".dev.vars"), "utf8");
    return vars.match(/^ADMIN_TOKEN\s*=\s*"?([^"\n]+)"?/m)?.[1];
  } catch {
    return undefined;
  }
}

/// Runs `wrangler kv key ARGS` on the CONFIG namespace, locally (the state `npm run dev` uses)
/// or on the deployed namespace. Returns stdout.
export function wranglerKv(args, { remote = false } = {}) {
  const target = remote
    ? ["--remote"]
    : ["--local", "--persist-to", process.env.GATEWAY_STATE ?? path.join(ROOT, ".wrangler/state")];
  return execFileSync(
    process.execPath,
    [path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "kv", "key", ...args, "--binding", "CONFIG", ...target],
    {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    },
  );
}
