// `npm run consumer -- create NAME [--scopes a,b] [--plan P] [--password] [--local|--remote]`
// Creates an API-key consumer: prints the key once and stores only its SHA-256 in KV
// (binding CONFIG, key consumer:<sha256>). With `--password`, a Basic consumer instead: prints a
// new password once and stores only its salted PBKDF2-SHA256 hash (key basic:<NAME>).
// `disable` is done by editing the record.
import { createHash, pbkdf2Sync, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { wranglerKv } from "./tools.mjs";

const args = process.argv.slice(2);
const usage = "usage: npm run consumer -- create NAME [--scopes a,b] [--plan PLAN] [--password] [--local|--remote]";
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

const basic = args.includes("--password");
// The platform derives at most 100,000 PBKDF2 iterations.
const ITERATIONS = 100000;
const key = basic ? randomBytes(24).toString("base64url") : `gwk_${randomBytes(32).toString("base64url")}`;
const record = { name, scopes, plan, created: new Date().toISOString() };
let kvKey;
if (basic) {
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(key, salt, ITERATIONS, 32, "sha256");
  record.password = { alg: "pbkdf2-sha256", iterations: ITERATIONS, salt: salt.toString("base64"), hash: hash.toString("base64") };
  kvKey = `basic:${name}`;
} else {
  kvKey = `consumer:${createHash("sha256").update(key).digest("hex")}`;
}
const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "consumer-")), "record.json");
fs.writeFileSync(file, JSON.stringify(record));
wranglerKv(["put", kvKey, "--path", file], { remote });
fs.rmSync(path.dirname(file), { recursive: true, force: true });
console.error(`created consumer '${name}' (scopes: ${scopes.join(" ") || "none"}, plan: ${plan ?? "none"})`);
console.error(basic ? `the password of '${name}' is shown once; store it now:` : "the key is shown once; store it now:");
console.log(key);
