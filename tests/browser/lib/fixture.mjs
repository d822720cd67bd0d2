// The checks' world: one hub with agencies A and B (hub.mjs) and one Chromium (browser.mjs),
// started before the first check and stopped after the last, whichever check files run.
import { after, before } from 'node:test';
import { artifactsDir, launch } from './browser.mjs';
import { startHub } from './hub.mjs';

let env = null;

// Return the shared world, registering its start and stop on the first call; it holds
// {hub, browser, buildDir, artifacts} by the time the first check runs.
export function useHubAndBrowser() {
  if (env) {
    return env;
  }
  env = { buildDir: process.env.REFEX_BUILD_DIR };
  before(async () => {
    env.artifacts = artifactsDir(env.buildDir);
    env.hub = await startHub(env.buildDir);
    env.browser = await launch();
  });
  after(async () => {
    await env.browser?.close();
    await env.hub?.stop(env.artifacts);
  });
  return env;
}
