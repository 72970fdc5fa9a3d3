// Reads an OpenAPI document (YAML or JSON), hands it to `gateway-config import-openapi` as
// JSON, and prints or writes the route document it makes.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const outAt = args.indexOf("--out");
const out = outAt >= 0 ? args.splice(outAt, 2)[1] : undefined;
const file = args.find((a, i) => !a.startsWith("--") && !["--service", "--upstream"].includes(args[i - 1]));
if (!file) {
  console.error("usage: npm run import-openapi -- FILE [--service NAME] [--upstream URL] [--mock] [--out FILE]");
  process.exit(2);
}
let spec;
try {
  spec = parse(fs.readFileSync(file, "utf8"));
} catch (error) {
  console.error(`${file}: cannot read an OpenAPI document: ${error.message}`);
  process.exit(1);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "import-openapi-"));
const json = path.join(dir, "openapi.json");
fs.writeFileSync(json, JSON.stringify(spec));
const rest = args.filter((a) => a !== file);
let status = 0;
let document;
try {
  document = execFileSync("cargo", ["run", "--quiet", "--locked", "--bin", "gateway-config", "--", "import-openapi", json, ...rest], {
    cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"],
  });
} catch (error) {
  status = error.status ?? 1;
  document = error.stdout ?? "";
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
if (out) {
  fs.writeFileSync(out, document);
  if (document) console.error(`wrote ${out}`);
} else {
  process.stdout.write(document);
}
process.exit(status);
