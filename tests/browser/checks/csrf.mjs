// A hostile page on another loopback origin makes B's browser (holding B's certificate) send
// state-changing calls to the hub: the hub refuses each, and nothing changes.
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { holderPage } from '../lib/browser.mjs';
import { AGENCY_A } from '../lib/hub.mjs';
import { useHubAndBrowser } from '../lib/fixture.mjs';

const env = useHubAndBrowser();
let hostile; // the other origin's server
let id; // a referral from A that B has not accepted

// The hostile pages: an auto-submitted HTML form, and fetch() calls, aimed at the hub's API.
function hostilePage(url) {
  const hub = env.hub.origin;
  const accept = JSON.stringify({ id, action: 'ACTION_ACCEPT' });
  const submit = JSON.stringify({ to: AGENCY_A, form: 'food_support', client: { givenName: 'Forged' } });
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  if (url === '/form') {
    // text/plain lets a form send a body that reads as JSON: name + "=" + value.
    const name = accept.slice(0, -1) + ',"x":"';
    return `<!DOCTYPE html><title>win a prize</title>
<form method="POST" action="${hub}/api/v1/update" enctype="text/plain">
<input type="hidden" name="${esc(name)}" value='"}'></form>
<script>document.forms[0].submit()</script>`;
  }
  return `<!DOCTYPE html><title>win a prize</title><script>
const call = (op, body, type, mode) => fetch(${JSON.stringify(hub)} + '/api/v1/' + op,
  {method: 'POST', mode, credentials: 'include', headers: {'Content-Type': type}, body})
  .then(() => 'answered', (e) => 'failed: ' + e.message);
Promise.all([
  call('update', ${JSON.stringify(accept)}, 'text/plain', 'no-cors'),
  call('submit', ${JSON.stringify(submit)}, 'text/plain', 'no-cors'),
  call('update', ${JSON.stringify(accept)}, 'application/json', 'cors'),
  call('submit', ${JSON.stringify(submit)}, 'application/json', 'cors'),
]).then((r) => { window.results = r; document.title = 'done'; });
</script>`;
}

before(async () => {
  hostile = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(hostilePage(req.url));
  });
  hostile.listen(0, '127.0.0.1');
  await once(hostile, 'listening');
});

after(() => hostile?.close());

const hostileOrigin = () => `http://127.0.0.1:${hostile.address().port}`;

// Resolve what the hub answered B's browser for calls to its API while step runs.
async function hubAnswers(page, step) {
  const answers = [];
  page.on('response', (r) => {
    if (r.url().startsWith(`${env.hub.origin}/api/v1/`) && r.request().method() === 'POST') {
      answers.push(r.status());
    }
  });
  await step();
  return answers;
}

// Assert the referral is still unaccepted and B created no referral.
async function assertNothingChanged(how) {
  const r = await env.hub.get(env.hub.b, id);
  assert.notEqual(r.state, 'STATE_ACCEPTED', `${how}: the forged accept went through`);
  const sent = await env.hub.ok(env.hub.b, 'list_sent', {});
  assert.deepEqual(sent.referrals || [], [], `${how}: the forged submit created a referral`);
}

test('a cross-site form POST to the hub is refused and changes nothing', async () => {
  const { hub, browser } = env;
  id = await hub.submit(hub.a, { givenName: 'Noor', familyName: 'Ali' });
  const page = await holderPage(browser, hub, hub.b);
  const answers = await hubAnswers(page, async () => {
    const done = page.waitForResponse((r) => r.url() === `${hub.origin}/api/v1/update`);
    await page.goto(`${hostileOrigin()}/form`);
    await done;
  });
  assert.deepEqual(answers, [403], `the hub answered the forged form POST with ${answers}`);
  await assertNothingChanged('form POST');
});

test('cross-site fetch() calls to the hub are refused and change nothing', async () => {
  const { hub, browser } = env;
  assert.ok(id, 'needs the previous check\'s referral');
  const page = await holderPage(browser, hub, hub.b);
  const answers = await hubAnswers(page, async () => {
    await page.goto(`${hostileOrigin()}/fetch`);
    await page.waitForFunction(() => document.title === 'done');
  });
  // The no-cors calls reach the hub, which refuses them; the JSON ones stop at the preflight.
  assert.ok(answers.length >= 2 && answers.every((s) => s === 403),
    `the hub answered the forged fetch() calls with ${answers}`);
  await assertNothingChanged('fetch()');
});
