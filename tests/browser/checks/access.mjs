// Only holders of a valid partner certificate get anything from the hub's HTTPS door.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { holderPage } from '../lib/browser.mjs';
import { useHubAndBrowser } from '../lib/fixture.mjs';

const env = useHubAndBrowser();

// Load the hub's page as holder h (null: none); resolves what the browser got.
async function load(h) {
  const page = await holderPage(env.browser, env.hub, h);
  const api = [];
  page.on('response', (r) => { if (r.url().includes('/api/v1/')) api.push(`${r.status()} ${r.url()}`); });
  let status = null;
  let error = null;
  try {
    status = (await page.goto(`${env.hub.origin}/#inbox`, { waitUntil: 'load' }))?.status() ?? null;
  } catch (e) {
    error = e.message.split('\n')[0];
  }
  const text = await page.locator('body').innerText().catch(() => '');
  return { status, error, text, api };
}

// Assert the browser got nothing from the hub: no page, no API answer.
function assertRefused(got, who) {
  assert.ok(got.error || got.status !== 200,
    `${who}: the hub's page loaded (HTTP ${got.status}); the TLS handshake must be refused`);
  assert.doesNotMatch(got.text, /Inbox|refex/, `${who}: the page shows the hub's content: ${got.text}`);
  assert.deepEqual(got.api, [], `${who}: the API answered: ${got.api.join(', ')}`);
}

test('a browser with a valid certificate loads the inbox (the control)', async () => {
  const got = await load(env.hub.b);
  assert.equal(got.status, 200, `a valid holder got ${got.status ?? got.error}`);
});

test('a browser presenting no client certificate gets nothing', async () => {
  const got = await load(null);
  assertRefused(got, 'no certificate');
  // How Chromium names the hub closing the handshake depends on when the close reaches it.
  assert.match(got.error || '', /ERR_(BAD_SSL_CLIENT_AUTH_CERT|SSL_PROTOCOL_ERROR|CONNECTION_CLOSED|CONNECTION_RESET|EMPTY_RESPONSE|SOCKET_NOT_CONNECTED)/,
    `no certificate: expected a refused TLS handshake, got ${got.error ?? `HTTP ${got.status}`}`);
});

test('a browser presenting a revoked certificate gets nothing', async () => {
  const got = await load(env.hub.revoked);
  assertRefused(got, 'revoked certificate');
  // Playwright makes the TLS connection for a context's certificate itself, and answers the
  // page with its own 503 when the hub refuses the handshake.
  assert.ok(got.error || /Playwright client-certificate error/.test(got.text),
    `revoked certificate: expected a refused TLS handshake, got HTTP ${got.status}: ${got.text}`);
});
