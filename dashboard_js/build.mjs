// Builds gateway/static/dashboard.js (our modules and uPlot, one minified IIFE) and
// gateway/static/dashboard.css (our styles and uPlot's, one minified file).
//
//   node build.mjs          write both files, fail when one is over its size budget
//   node build.mjs --check  build in memory, fail when either differs from the committed file (CI)
//
// Deterministic: same sources, same esbuild and same uPlot give the same bytes, so CI can compare
// a fresh build with the committed files. The build refuses script output that would break under
// the dashboard's CSP or write HTML from strings.

import { build } from "esbuild";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { CSS_BUDGET, JS_BUDGET } from "./src/constants.js";

// Browsers of 2021 on (ResizeObserver, optional chaining, CSS inset and gap).
const TARGET = ["es2021", "chrome91", "edge91", "firefox90", "safari15"];
const FORBIDDEN = /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/;

const here = (path) => new URL(path, import.meta.url);

async function bundle(entry, loader) {
  const result = await build({
    entryPoints: [fileURLToPath(here(entry))],
    bundle: true,
    minify: true,
    format: loader === "js" ? "iife" : undefined,
    target: TARGET,
    write: false,
    legalComments: "none",
    logLevel: "warning",
  });
  return Buffer.from(result.outputFiles[0].contents);
}

const outputs = [
  { name: "dashboard.js", code: await bundle("src/main.js", "js"), budget: JS_BUDGET },
  { name: "dashboard.css", code: await bundle("src/dashboard.css", "css"), budget: CSS_BUDGET },
];

const check = process.argv.includes("--check");
const problems = [];
for (const { name, code, budget } of outputs) {
  const gzipped = gzipSync(code, { level: 9 }).length;
  console.log(`${name}: ${code.length} bytes, ${gzipped} bytes gzipped (budget ${budget})`);
  if (gzipped > budget) problems.push(`${name} is ${gzipped - budget} bytes over its gzip budget`);
  const forbidden = name.endsWith(".js") && code.toString().match(FORBIDDEN);
  if (forbidden) problems.push(`${name} uses ${forbidden[0]}, which the dashboard's CSP or review refuses`);
  const output = here(`../gateway/static/${name}`);
  if (check) {
    const committed = await readFile(output).catch(() => null);
    if (!committed || !committed.equals(code)) {
      problems.push(`gateway/static/${name} is not what the sources build: run \`npm run build\` in dashboard_js/ and commit the result`);
    }
  }
}
if (!check && !problems.length) {
  for (const { name, code } of outputs) await writeFile(here(`../gateway/static/${name}`), code);
}
for (const problem of problems) console.error(problem);
process.exit(problems.length ? 1 : 0);
