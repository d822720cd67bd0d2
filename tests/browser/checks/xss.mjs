// Every value from a referral is shown as text: a hostile client name and hostile form answers
// run nothing in the inbox, the referral page or the Sent page.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertInert, pageAt, row } from '../lib/browser.mjs';
import { useHubAndBrowser } from '../lib/fixture.mjs';

const env = useHubAndBrowser();
const NAME = '<img src=x onerror=window.__xss=1>';
const SCRIPT = '<script>window.__xss=2</script>';
const CLIENT = `${NAME} Lee`;
let id;

test('a hostile client name is shown as text in B\'s inbox', async () => {
  id = await env.hub.submit(env.hub.a, {
    givenName: NAME, familyName: 'Lee',
    answers: { supportNeeds: SCRIPT, householdMembers: [{ relationship: SCRIPT }] },
  });
  const page = await pageAt(env, env.hub.b, 'inbox');
  await row(page, CLIENT).waitFor().catch(() => {
    throw new Error(`B's inbox does not show the client name as the text ${CLIENT}`);
  });
  await assertInert(page, 'inbox');
});

test('the hostile name and answers are shown as text on the referral page', async () => {
  assert.ok(id, 'needs the previous check\'s referral');
  const page = await pageAt(env, env.hub.b, `referral/${id}`);
  await page.locator('dd', { hasText: SCRIPT }).first().waitFor();
  const dds = await page.locator('dd').allTextContents();
  assert.ok(dds.includes(NAME), `the given name is not shown as text: ${dds.join(' | ')}`);
  assert.ok(dds.includes(SCRIPT), `the support needs answer is not shown as text: ${dds.join(' | ')}`);
  assert.ok(dds.some((d) => d.includes(SCRIPT) && /relationship/i.test(d)),
    `the household member's relationship is not shown as text: ${dds.join(' | ')}`);
  await assertInert(page, 'referral page');
});

test('the hostile client name is shown as text on A\'s Sent page', async () => {
  const page = await pageAt(env, env.hub.a, 'sent');
  await row(page, CLIENT).waitFor().catch(() => {
    throw new Error(`A's Sent page does not show the client name as the text ${CLIENT}`);
  });
  await assertInert(page, 'sent page');
});
