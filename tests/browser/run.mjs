// The web pages in a real browser: Debian's Chromium, driven by playwright-core, presenting
// partner certificates to one refexd started for the run (lib/fixture.mjs).
//   node tests/browser/run.mjs BUILD_DIR [CHECK...]   (CHECK: a file of checks/, e.g. flow)
// Node's test runner runs the checks in this process, one after another, and exits non-zero
// when one fails. Exits 77 (skipped) only when Chromium or tests/browser/node_modules is
// missing (scripts/bootstrap installs both).
import fs from 'node:fs';
import path from 'node:path';

const SKIP = 77;
const CHECKS = ['flow', 'newref', 'clients', 'access', 'xss', 'csrf', 'a11y'];
const here = path.dirname(new URL(import.meta.url).pathname);
const chromiumPath = process.env.REFEX_CHROMIUM || '/usr/bin/chromium';

if (!fs.existsSync(chromiumPath)) {
  console.log(`skipped: no Chromium at ${chromiumPath} (scripts/bootstrap installs Debian's chromium)`);
  process.exit(SKIP);
}
if (!fs.existsSync(path.join(here, 'node_modules', 'playwright-core', 'package.json'))) {
  console.log(`skipped: ${here}/node_modules is missing (scripts/bootstrap runs npm ci there)`);
  process.exit(SKIP);
}
process.env.REFEX_BUILD_DIR = path.resolve(process.argv[2] || path.join(here, '../../build'));
for (const name of process.argv.length > 3 ? process.argv.slice(3) : CHECKS) {
  await import(path.join(here, 'checks', `${name}.mjs`));
}
