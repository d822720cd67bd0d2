// The Clients pages: a client added in the page with a hostile name is shown as text, a consent
// is recorded in the page, and erasing needs the client's id typed (a wrong one erases nothing).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertInert, pageAt, row } from '../lib/browser.mjs';
import { AGENCY_B } from '../lib/hub.mjs';
import { useHubAndBrowser } from '../lib/fixture.mjs';

const env = useHubAndBrowser();
const NAME = '<img src=x onerror=window.__xss=3>';
let id; // the client added in the page
let page; // A's page on that client

test('a client added in the page with a hostile name is shown as text', async () => {
  const { hub } = env;
  page = await pageAt(env, hub.a, 'clients');
  await page.getByLabel('Given name (required)', { exact: true }).fill(NAME);
  await page.getByLabel('Family name (required)', { exact: true }).fill('Park');
  await page.getByRole('button', { name: 'Add client', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Client added' }).waitFor();
  id = decodeURIComponent((await page.evaluate(() => location.hash)).replace(/^#client\//, ''));
  assert.equal((await hub.ok(hub.a, 'get_client', { id })).record.givenName, NAME,
    'the hub did not record the name as typed');
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), `Client ${NAME} Park`,
    'the client\'s page does not show the name as text');
  await assertInert(page, 'client page');

  const list = await pageAt(env, hub.a, 'clients');
  await row(list, `${NAME} Park`).waitFor().catch(() => {
    throw new Error(`the Clients page does not list the name as the text ${NAME} Park`);
  });
  await assertInert(list, 'clients page');
});

test('a consent recorded in the page is listed on the client\'s page and kept by the hub', async () => {
  const { hub } = env;
  assert.ok(id, 'needs the previous check\'s client');
  page = await pageAt(env, hub.a, `client/${encodeURIComponent(id)}`);
  await page.getByLabel('Covers (required)', { exact: true }).selectOption(AGENCY_B);
  await page.getByLabel('Basis (required)', { exact: true }).selectOption('BASIS_CONSENT');
  await page.getByLabel('Purpose', { exact: true }).fill('housing support referral');
  await page.getByLabel('How the client consented', { exact: true }).selectOption('CONSENT_VERBAL');
  await page.getByRole('button', { name: 'Record consent', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Consent recorded' }).waitFor();
  await page.getByRole('cell', { name: `Consent: housing support referral (to ${AGENCY_B})` }).waitFor();
  const consents = (await hub.ok(hub.a, 'list_consents', { clientId: id })).consents || [];
  assert.deepEqual(consents.map((c) => [c.toAgency, c.purpose]), [[AGENCY_B, 'housing support referral']],
    'the hub did not keep the consent recorded in the page');
});

test('erasing a client needs its id typed: a wrong id erases nothing, the right one erases it', async () => {
  const { hub } = env;
  assert.ok(id && page, 'needs the previous checks\' client');
  await page.getByLabel('Reason for erasing', { exact: true }).fill('asked to be forgotten');
  await page.getByRole('button', { name: 'Erase client…', exact: true }).click();
  const typed = page.getByLabel(`Type the client id (${id}) to confirm`, { exact: true });
  await typed.fill(`${id}x`);
  await page.getByRole('button', { name: 'Erase for good', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: `Type the client id ${id} to confirm` }).waitFor();
  assert.equal((await hub.ok(hub.a, 'get_client', { id })).erasedAt, undefined,
    'the client was erased with a wrong id typed');

  await typed.fill(id);
  await page.getByRole('button', { name: 'Erase for good', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Client erased' }).waitFor();
  assert.ok((await hub.ok(hub.a, 'get_client', { id })).erasedAt, 'the hub did not erase the client');
  await assertInert(page, 'client page after erasing');
});

test('choices are shown by their names without the enum\'s prefix ("Verbal", not "Consent verbal")', async () => {
  const { hub } = env;
  const p = await pageAt(env, hub.a, 'clients');
  const shown = (label) => p.getByLabel(label, { exact: true }).locator('option').allTextContents();
  assert.deepEqual(await shown('Preferred contact'),
    ['No answer', 'Phone', 'Text', 'Email', 'Post', 'In person', 'Via referrer'],
    'Preferred contact shows its choices with the enum\'s prefix');
  const client = await hub.ok(hub.a, 'add_client', { record: { givenName: 'Ada', familyName: 'Choice' } });
  const c = await pageAt(env, hub.a, `client/${encodeURIComponent(client.id)}`);
  const options = (label) => c.getByLabel(label, { exact: true }).locator('option').allTextContents();
  assert.deepEqual((await options('Basis (required)')).slice(-4),
    ['Consent', 'Safeguarding', 'Legal obligation', 'Vital interests'],
    'Basis shows its choices with the enum\'s prefix');
  assert.deepEqual(await options('How the client consented'), ['No answer', 'Verbal', 'Written', 'Digital'],
    'How the client consented shows its choices with the enum\'s prefix');
});
