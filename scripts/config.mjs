// Configuration versions, against a running gateway's admin API (local `npm run dev` or a
// deployed gateway alike) or, for `push --local|--remote`, straight to KV with wrangler:
//   push [FILE] [--local|--remote] [--force]   store FILE as a version and make it current
//   push [FILE] --candidate [PERCENT]          roll FILE out to PERCENT of clients (judged by
//                                              the gateway, promoted or rolled back by itself)
//   rollback [VERSION] [--force]     make VERSION (default: what the current one replaced) current
//   versions                         list stored versions, newest first
// Admin API options: --gateway URL (GATEWAY_URL, http://127.0.0.1:8787), --token T.
// Through the admin API a push prints what it changes against the current version, and is
// made only while that version is still current (If-Match): when someone else changed it in
// between, nothing is changed and the command fails, unless --force. --local/--remote write KV
// directly, without that check.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ROOT, admin, adminOptions, fail, wranglerKv } from "./tools.mjs";

const usage = `usage: npm run push -- [FILE] [--local|--remote] [--force] [--candidate [PERCENT]] [--gateway URL] [--token T]
       npm run rollback -- [VERSION] [--force] [--gateway URL] [--token T]
       npm run versions -- [--gateway URL] [--token T]`;
const { options, rest } = adminOptions(process.argv.slice(2), usage);
const [command, ...args] = rest;
const KEY = process.env.CONFIG_KEY ?? "routes";

// The version of a document: the first 16 hex digits of the SHA-256 of its exact bytes, as the
// Worker computes it.
const versionOf = (text) => createHash("sha256").update(text).digest("hex").slice(0, 16);

const force = args.includes("--force");
if (command === "push") {
  const kv = args.find((a) => a === "--local" || a === "--remote");
  const at = args.indexOf("--candidate");
  const percent = at >= 0 && /^\d+$/.test(args[at + 1] ?? "") ? args[at + 1] : undefined;
  const files = args.filter((a, i) => a !== kv && a !== "--force" && a !== "--candidate" && !(percent && i === at + 1));
  if (files.length > 1 || files.some((f) => f.startsWith("--")) || (kv && at >= 0)) fail(usage, 2);
  const file = files[0] ?? path.join(ROOT, "routes/gateway.json");
  const text = fs.readFileSync(file, "utf8");
  if (kv) {
    const result = pushToKv(file, text, kv === "--remote");
    console.log(`version ${result.version} is current (${result.routes} routes; previous: ${result.previous ?? "none"})`);
  } else {
    const base = await admin(options, "GET", "config", undefined, { allow: [404] });
    const before = base.status === 404 ? undefined : base;
    if (before?.version === versionOf(text)) {
      console.log(`version ${before.version} is already current; nothing to push`);
      process.exit(0);
    }
    for (const line of describe(before?.document, JSON.parse(text))) console.log(line);
    const headers = before && !force ? { "if-match": `"${before.version}"` } : {};
    const route = at >= 0 ? `config/candidate${percent ? `?percent=${percent}` : ""}` : "config";
    const result = await admin(options, "PUT", route, text, { headers, allow: [412] });
    if (result.status === 412) conflict(result);
    if (at >= 0) {
      console.log(`version ${versionOf(text)} is a candidate for ${result.candidate?.percent}% of clients, against ${result.version}; follow it with GET ${options.prefix}/config/candidate`);
    } else {
      console.log(`version ${result.version} is current (${result.routes} routes; previous: ${result.previous ?? "none"})`);
    }
    if (result.deleted?.length) console.log(`retention deleted ${result.deleted.length} old version(s): ${result.deleted.join(", ")}`);
  }
} else if (command === "rollback") {
  const named = args.filter((a) => a !== "--force");
  if (named.length > 1 || named.some((a) => a.startsWith("--"))) fail(usage, 2);
  const body = named[0] ? JSON.stringify({ version: named[0] }) : "";
  const base = await admin(options, "GET", "config");
  const headers = force ? {} : { "if-match": `"${base.version}"` };
  const result = await admin(options, "POST", "config/rollback", body, { headers, allow: [412] });
  if (result.status === 412) conflict(result);
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

function conflict(problem) {
  fail(`not changed: ${problem.detail}\nsomeone changed the configuration since it was read; look again, or pass --force to replace it anyway`);
}

/// What `next` changes against `current`: routes and services added, removed and changed
/// (with the keys that differ), and other top-level sections.
export function describe(current, next) {
  if (!current || typeof current !== "object") return ["no current document: this is the first version"];
  const lines = [];
  const named = (list) => new Map((Array.isArray(list) ? list : []).map((r) => [r?.name, r]));
  const compare = (what, before, after) => {
    for (const [name, value] of after) {
      if (!before.has(name)) lines.push(`+ ${what} ${name}`);
      else {
        const old = before.get(name);
        const keys = [...new Set([...Object.keys(old ?? {}), ...Object.keys(value ?? {})])]
          .filter((k) => JSON.stringify(old?.[k]) !== JSON.stringify(value?.[k]));
        if (keys.length) lines.push(`~ ${what} ${name}: ${keys.join(", ")}`);
      }
    }
    for (const name of before.keys()) if (!after.has(name)) lines.push(`- ${what} ${name}`);
  };
  compare("route", named(current.routes), named(next.routes));
  const services = (doc) => new Map(Object.entries(doc.services ?? {}).map(([k, v]) => [k, { name: k, ...v }]));
  compare("service", services(current), services(next));
  for (const key of new Set([...Object.keys(current), ...Object.keys(next)])) {
    if (key === "routes" || key === "services") continue;
    if (JSON.stringify(current[key]) !== JSON.stringify(next[key])) lines.push(`~ ${key}`);
  }
  return lines.length ? lines : ["no change in content (formatting only)"];
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
