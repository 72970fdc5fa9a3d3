// Configuration versions, against a running gateway's admin API (local `npm run dev` or a
// deployed gateway alike) or, for `push --local|--remote`, straight to KV with wrangler:
//   push [FILE] [--local|--remote]   store FILE as a version and make it current
//   rollback [VERSION]               make VERSION (default: what the current one replaced) current
//   versions                         list stored versions, newest first
// Admin API options: --gateway URL (GATEWAY_URL, http://127.0.0.1:8787), --token T.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ROOT, admin, adminOptions, fail, wranglerKv } from "./tools.mjs";

const usage = `usage: npm run push -- [FILE] [--local|--remote] [--gateway URL] [--token T]
       npm run rollback -- [VERSION] [--gateway URL] [--token T]
       npm run versions -- [--gateway URL] [--token T]`;
const { options, rest } = adminOptions(process.argv.slice(2), usage);
const [command, ...args] = rest;
const KEY = process.env.CONFIG_KEY ?? "routes";

// The version of a document: the first 16 hex digits of the SHA-256 of its exact bytes, as the
// Worker computes it.
const versionOf = (text) => createHash("sha256").update(text).digest("hex").slice(0, 16);

if (command === "push") {
  const kv = args.find((a) => a === "--local" || a === "--remote");
  const files = args.filter((a) => a !== kv);
  if (files.length > 1 || files.some((f) => f.startsWith("--"))) fail(usage, 2);
  const file = files[0] ?? path.join(ROOT, "routes/gateway.json");
  const text = fs.readFileSync(file, "utf8");
  const result = kv ? pushToKv(file, text, kv === "--remote") : await admin(options, "PUT", "config", text);
  console.log(`version ${result.version} is current (${result.routes} routes; previous: ${result.previous ?? "none"})`);
} else if (command === "rollback") {
  if (args.length > 1 || args.some((a) => a.startsWith("--"))) fail(usage, 2);
  const body = args[0] ? JSON.stringify({ version: args[0] }) : "";
  const result = await admin(options, "POST", "config/rollback", body);
  console.log(`rolled back: version ${result.version} is current (replacing ${result.previous ?? "none"})`);
} else if (command === "versions") {
  if (args.length) fail(usage, 2);
  const result = await admin(options, "GET", "config/versions");
  for (const v of result.versions) {
    const mark = v.current ? "*" : " ";
    console.log(`${mark} ${v.version}  ${new Date(v.pushed_at_ms).toISOString()}  ${v.routes} routes  ${v.bytes} bytes`);
  }
  if (result.current && !result.versions.some((v) => v.current)) {
    console.log(`* ${result.current}  (written to KV directly; not in the history)`);
  }
} else {
  fail(usage, 2);
}

// The same two writes the admin API makes: the immutable version (once), then the pointer.
function pushToKv(file, text, remote) {
  const version = versionOf(text);
  const now = Date.now();
  const routes = JSON.parse(text).routes?.length ?? 0;
  const known = tryGet(`${KEY}@${version}`, remote) !== undefined;
  if (!known) {
    const record = { version, pushed_at_ms: now, routes, bytes: Buffer.byteLength(text) };
    wranglerKv(["put", `${KEY}@${version}`, "--path", file, "--metadata", JSON.stringify(record)], { remote });
  }
  const current = tryGet(KEY, remote);
  const previous = current === undefined || versionOf(current) === version ? null : versionOf(current);
  const pointer = { version, since_ms: now, previous, action: "push" };
  wranglerKv(["put", KEY, "--path", file, "--metadata", JSON.stringify(pointer)], { remote });
  return { version, previous, routes };
}

// wrangler prints the value plus a newline, or "Value not found".
function tryGet(key, remote) {
  let out;
  try {
    out = wranglerKv(["get", key, "--text"], { remote });
  } catch {
    return undefined;
  }
  return out === "Value not found\n" ? undefined : out.replace(/\n$/, "");
}
