// `npm run purge -- [--tag T]... [--route R]... [--url U]... [--prefix P]... [--everything]
//                   [--gateway URL] [--token TOKEN]`
// Purges cached responses at every location through the gateway's admin API, so it works the
// same against `npm run dev` and a deployed gateway. The gateway defaults to GATEWAY_URL or
// http://127.0.0.1:8787; the token to GATEWAY_ADMIN_TOKEN, then ADMIN_TOKEN in .dev.vars.
import { admin, adminOptions, fail } from "./tools.mjs";

const usage =
  "usage: npm run purge -- [--tag T]... [--route R]... [--url U]... [--prefix P]... [--everything] [--gateway URL] [--token TOKEN]";
const { options, rest: args } = adminOptions(process.argv.slice(2), usage);
const request = { routes: [], tags: [], urls: [], prefixes: [], everything: false };
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
  else if (flag === "--prefix") request.prefixes.push(value());
  else if (flag === "--everything") request.everything = true;
  else fail(`unknown argument '${flag}'\n${usage}`, 2);
}
const named = ["routes", "tags", "urls", "prefixes"].some((k) => request[k].length);
if (!request.everything && !named) {
  fail(`name something to purge\n${usage}`, 2);
}
const body = await admin(options, "POST", "cache/purge", JSON.stringify(request));
console.log(`purged ${body.purged} target(s) at ${new Date(body.at_ms).toISOString()}; every location stops serving them within the refresh interval`);
if (body.zone?.purged) console.log(`the zone's cache was purged too (${body.zone.requests} API request(s))`);
else if (body.zone) console.error(`the zone's cache was not purged: ${body.zone.error} (the purge markers still apply)`);
