// Builds gateway/static/t.js: the tracker minified by esbuild as one IIFE.
//
//   node build.mjs          write gateway/static/t.js, fail when over the size budget
//   node build.mjs --check  build in memory, fail when it differs from the committed file (CI)
//
// Deterministic: same sources and same esbuild give the same bytes, so CI can compare a fresh
// build with the committed file. The build also refuses output that touches cookies or storage:
// "the tracker never writes any" holds by construction, not by review.

import { build } from "esbuild";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { SIZE_BUDGET } from "./src/constants.js";

// ES2021 as browsers shipped it in 2021 (older ones have bugs esbuild would work around in bytes);
// an older browser fails to parse t.js and so tracks nothing, which is the safe way to fail.
const TARGET = ["es2021", "chrome91", "edge91", "firefox90", "safari15"];
const FORBIDDEN = /cookie|localStorage|sessionStorage|indexedDB|caches\.|innerHTML|\beval\(|new Function/;

const here = (path) => new URL(path, import.meta.url);
const OUTPUT = here("../gateway/static/t.js");
const SHOWN = "gateway/static/t.js";

const result = await build({
  entryPoints: [fileURLToPath(here("src/main.js"))],
  bundle: true,
  minify: true,
  format: "iife",
  target: TARGET,
  write: false,
  legalComments: "none",
  logLevel: "warning",
});
const code = Buffer.from(result.outputFiles[0].contents);
const gzipped = gzipSync(code, { level: 9 }).length;
console.log(`t.js: ${code.length} bytes, ${gzipped} bytes gzipped (budget ${SIZE_BUDGET})`);

const problems = [];
if (gzipped > SIZE_BUDGET) problems.push(`t.js is ${gzipped - SIZE_BUDGET} bytes over its gzip budget`);
const forbidden = code.toString().match(FORBIDDEN);
if (forbidden) problems.push(`t.js uses ${forbidden[0]}: the tracker must not touch cookies, storage or HTML`);
if (process.argv.includes("--check")) {
  const committed = await readFile(OUTPUT).catch(() => null);
  if (!committed || !committed.equals(code)) {
    problems.push(`${SHOWN} is not what the sources build: run \`npm run build\` in tracker_js/ and commit the result`);
  }
} else if (!problems.length) {
  await writeFile(OUTPUT, code);
}
for (const problem of problems) console.error(problem);
process.exit(problems.length ? 1 : 0);
