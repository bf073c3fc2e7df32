// Builds gateway/static/banner.js: the CSS minified by esbuild and injected into the JS bundle
// together with the package version, the whole minified as one IIFE.
//
//   node build.mjs          write gateway/static/banner.js, fail when over the size budget
//   node build.mjs --check  build in memory, fail when it differs from the committed file (CI)
//
// The output is deterministic: same sources and same esbuild version give the same bytes on every
// machine, which is what lets CI compare a fresh build with the committed file.

import { build, transform } from "esbuild";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { SIZE_BUDGET } from "./src/constants.js";

// Browsers with shadow DOM, logical CSS properties (inset-inline-*) and ES2020. Constructable
// stylesheets (Chrome 73, Firefox 101, Safari 16.4) are used where present, a <style> elsewhere.
const TARGET = ["es2020", "chrome87", "edge88", "firefox78", "safari14.1"];

// Names the banner must never use: they break under a strict CSP or Trusted Types.
const FORBIDDEN = /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|\.style\b|cssText/;

const here = (path) => new URL(path, import.meta.url);
const OUTPUT = here("../gateway/static/banner.js");
const SHOWN = "gateway/static/banner.js";

async function bundle() {
  const { version } = JSON.parse(await readFile(here("package.json"), "utf8"));
  const css = await transform(await readFile(here("src/banner.css"), "utf8"), {
    loader: "css",
    minify: true,
    target: TARGET,
  });
  const result = await build({
    entryPoints: [fileURLToPath(here("src/main.js"))],
    bundle: true,
    minify: true,
    format: "iife",
    target: TARGET,
    write: false,
    legalComments: "none",
    banner: { js: `/*! consent-gateway banner ${version} */` },
    define: { __CSS__: JSON.stringify(css.code.trim()), __VERSION__: JSON.stringify(version) },
    logLevel: "warning",
  });
  return Buffer.from(result.outputFiles[0].contents);
}

function report(code) {
  const gzipped = gzipSync(code, { level: 9 }).length;
  console.log(`banner.js: ${code.length} bytes, ${gzipped} bytes gzipped (budget ${SIZE_BUDGET})`);
  const problems = [];
  if (gzipped > SIZE_BUDGET) problems.push(`banner.js is ${gzipped - SIZE_BUDGET} bytes over its gzip budget`);
  const forbidden = code.toString().match(FORBIDDEN);
  if (forbidden) problems.push(`banner.js uses ${forbidden[0]}, which a strict CSP or Trusted Types refuses`);
  return problems;
}

const check = process.argv.includes("--check");
const code = await bundle();
const problems = report(code);
if (check) {
  const committed = await readFile(OUTPUT).catch(() => null);
  if (!committed || !committed.equals(code)) {
    problems.push(`${SHOWN} is not what the sources build: run \`npm run build\` in consent_banner/ and commit the result`);
  }
} else if (!problems.length) {
  await mkdir(here("../gateway/static/"), { recursive: true });
  await writeFile(OUTPUT, code);
}
for (const problem of problems) console.error(problem);
process.exit(problems.length ? 1 : 0);
