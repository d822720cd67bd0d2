// The new-referral page refuses what it must: an answer the form's rules need is checked in the
// page (the message beside the field, focus on it, nothing sent), and a refusal by the hub is
// shown beside the field it names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fillHousingReferral, isFocused, messageNextTo, pageAt, typeNewClient } from '../lib/browser.mjs';
import { AGENCY_B } from '../lib/hub.mjs';
import { useHubAndBrowser } from '../lib/fixture.mjs';

const env = useHubAndBrowser();

// Record the page's calls to the hub's submit operation in an array; resolves it.
function submits(page) {
  const calls = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/v1/submit')) calls.push(r); });
  return calls;
}

// How many referrals A has sent, as the hub says.
async function sentByA() {
  return ((await env.hub.ok(env.hub.a, 'list_sent', { limit: 100 })).referrals || []).length;
}

test('a required answer left empty is named beside its field, which gets the focus; nothing is sent', async () => {
  const a = await pageAt(env, env.hub.a, 'new');
  const calls = submits(a);
  await fillHousingReferral(a, AGENCY_B, { 'Current situation (required)': 'ROUGH_SLEEPING' });
  await typeNewClient(a, 'Lena', 'Empty');
  const before = await sentByA();
  await a.getByRole('button', { name: 'Send referral', exact: true }).click();

  await a.getByRole('alert').filter({ hasText: 'Some answers need changing' }).waitFor();
  const tenure = a.getByLabel('Tenure (required)', { exact: true });
  assert.equal(await messageNextTo(tenure), 'Required: give an answer.', 'no message beside Tenure');
  assert.equal(await tenure.getAttribute('aria-invalid'), 'true', 'Tenure is not marked invalid');
  assert.ok(await isFocused(tenure), 'the focus did not move to Tenure, the answer missing');
  assert.deepEqual(calls, [], 'the page sent the referral with an answer missing');
  assert.equal(await sentByA(), before, 'the hub has a referral the page should not have sent');
});

test('the hub\'s refusal is shown beside the field it names (a stored client erased meanwhile)', async () => {
  const { hub } = env;
  const client = await hub.ok(hub.a, 'add_client', { record: { givenName: 'Omar', familyName: 'Gone' } });
  await hub.ok(hub.a, 'add_consent', { clientId: client.id, toAgency: AGENCY_B, basis: 'BASIS_CONSENT',
    purpose: 'housing support referral', method: 'CONSENT_VERBAL' });
  const a = await pageAt(env, hub.a, 'new');
  await fillHousingReferral(a, AGENCY_B);
  await a.getByRole('radio', { name: 'A client already recorded', exact: true }).check();
  const stored = a.getByLabel('Stored client (required)', { exact: true });
  await stored.selectOption(client.id);
  await a.getByText(`Sharing with ${AGENCY_B} is covered by`).waitFor();
  // Another caseworker erases the client while this page is open: only the hub can know.
  await hub.ok(hub.a, 'erase_client', { id: client.id, reason: 'asked to be forgotten' });
  const before = await sentByA();
  await a.getByRole('button', { name: 'Send referral', exact: true }).click();

  await a.getByRole('alert').filter({ hasText: 'The hub refused this' }).waitFor();
  assert.match(await messageNextTo(stored), /erased/, 'the refusal is not shown beside Stored client');
  assert.ok(await isFocused(stored), 'the focus did not move to Stored client, the field refused');
  assert.equal(await a.evaluate(() => location.hash), '#new', 'the page left the form');
  assert.equal(await sentByA(), before, 'a referral for the erased client was made');
});
