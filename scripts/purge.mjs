// `npm run purge -- [--tag T]... [--route R]... [--url U]... [--everything]
//                   [--gateway URL] [--token TOKEN]`
// Purges cached responses at every location through the gateway's admin API, so it works the
// same against `npm run dev` and a deployed gateway. The gateway defaults to GATEWAY_URL or
// http://127.0.0.1:8787; the token to GATEWAY_ADMIN_TOKEN, then ADMIN_TOKEN in .dev.vars.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const usage =
  "usage: npm run purge -- [--tag T]... [--route R]... [--url U]... [--everything] [--gateway URL] [--token TOKEN]";
const args = process.argv.slice(2);
const request = { routes: [], tags: [], urls: [], everything: false };
let gateway = process.env.GATEWAY_URL ?? "http://127.0.0.1:8787";
let token = process.env.GATEWAY_ADMIN_TOKEN;
const prefix = process.env.GATEWAY_ADMIN_PREFIX ?? "/__gateway";
for (let i = 0; i < args.length; i++) {
  const flag = args[i];
  const value = () => {
    const v = args[++i];
    if (v === undefined || v.startsWith("--")) fail(`${flag} needs a value\n${usage}`, 2);
    return v;
  };
  if (flag === "--tag") request.tags.push(value());
  else if (flag === "--route") request.routes.push(value());
  else if (flag === "--url") request.urls.push(value());
  else if (flag === "--everything") request.everything = true;
  else if (flag === "--gateway") gateway = value();
  else if (flag === "--token") token = value();
  else fail(`unknown argument '${flag}'\n${usage}`, 2);
}
if (!request.everything && !request.routes.length && !request.tags.length && !request.urls.length) {
  fail(`name something to purge\n${usage}`, 2);
}
token ??= devToken();
if (!token) fail("no admin token: pass --token, set GATEWAY_ADMIN_TOKEN, or run `npm run dev` (it writes .dev.vars)", 2);

const url = new URL(`${prefix}/cache/purge`, gateway);
let response;
try {
  response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(request),
  });
} catch (e) {
  fail(`cannot reach ${url}: ${e.cause?.message ?? e.message}`, 1);
}
const body = await response.json().catch(() => ({}));
if (!response.ok) fail(`purge refused (${response.status}): ${body.detail ?? JSON.stringify(body)}`, 1);
console.log(`purged ${body.purged} target(s) at ${new Date(body.at_ms).toISOString()}; every location stops serving them within the refresh interval`);

function devToken() {
  try {
    const vars = fs.readFileSync(path.join(ROOT, ".dev.vars"), "utf8");
    return vars.match(/^ADMIN_TOKEN\s*=\s*"?([^"\n]+)"?/m)?.[1];
  } catch {
    return undefined;
  }
}

function fail(message, code) {
  console.error(message);
  process.exit(code);
}
