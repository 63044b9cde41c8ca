// Prints the console's bundle size, gzipped: the initial load (index.html
// and what it references directly) and all assets. Fails above the
// budget of P4: 500 kB gzipped for the initial load.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../../internal/webui/dist", import.meta.url));
const BUDGET = 500 * 1000;
const gz = (p) => gzipSync(readFileSync(p), { level: 9 }).length;
const kb = (n) => `${(n / 1000).toFixed(1)} kB`;

const html = readFileSync(join(dist, "index.html"), "utf8");
const initial = new Set([...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]));
let initialBytes = gz(join(dist, "index.html"));
for (const f of initial) initialBytes += gz(join(dist, f));
let all = gz(join(dist, "index.html"));
for (const f of readdirSync(join(dist, "assets"))) all += gz(join(dist, "assets", f));

console.log(`console bundle: initial load ${kb(initialBytes)} gzipped (${initial.size + 1} files, budget ${kb(BUDGET)}); all assets ${kb(all)} gzipped`);
if (initialBytes > BUDGET) {
  console.error(`initial load is over budget by ${kb(initialBytes - BUDGET)}`);
  process.exit(1);
}
