// `npm run consumer -- create NAME [--scopes a,b] [--plan P] [--local|--remote]`
// Creates an API-key consumer: prints the key once and stores only its SHA-256 in KV
// (binding CONFIG, key consumer:<sha256>). `disable NAME-KEY-HASH` is done by editing the record.
import { createHash, randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const usage = "usage: npm run consumer -- create NAME [--scopes a,b] [--plan PLAN] [--local|--remote]";
const [command, name] = args;
if (command !== "create" || !name || name.startsWith("--")) {
  console.error(usage);
  process.exit(2);
}
if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(name)) {
  console.error("a consumer name is 1-64 lower-case letters, digits, '-' and '_'");
  process.exit(2);
}
const option = (flag) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const scopes = (option("--scopes") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
const plan = option("--plan") ?? null;
const remote = args.includes("--remote");

const key = `gwk_${randomBytes(32).toString("base64url")}`;
const hash = createHash("sha256").update(key).digest("hex");
const record = { name, scopes, plan, created: new Date().toISOString() };
const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "consumer-")), "record.json");
fs.writeFileSync(file, JSON.stringify(record));
const target = remote
  ? ["--remote"]
  : ["--local", "--persist-to", process.env.GATEWAY_STATE ?? path.join(ROOT, ".wrangler/state")];
execFileSync(
  process.execPath,
  [path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "kv", "key", "put", `consumer:${hash}`,
    "--path", file, "--binding", "CONFIG", ...target],
  { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
);
fs.rmSync(path.dirname(file), { recursive: true, force: true });
console.error(`created consumer '${name}' (scopes: ${scopes.join(" ") || "none"}, plan: ${plan ?? "none"})`);
console.error("the key is shown once; store it now:");
console.log(key);
