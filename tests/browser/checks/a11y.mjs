// The pages are accessible: no axe-core WCAG 2.1 AA violations, no sideways scrolling on a
// 360x740 phone screen, and every control reachable with Tab, on the inbox, a referral page,
// the new-referral page (a form drawn), the Clients page and the Report page. The pages are
// agency C's, whose inbox no other check writes to.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { axeViolations, fillHousingReferral, holderPage, openLiveInbox, pageAt, row, tabWalk } from '../lib/browser.mjs';
import { AGENCY_B, AGENCY_C } from '../lib/hub.mjs';
import { useHubAndBrowser } from '../lib/fixture.mjs';

const env = useHubAndBrowser();
const PHONE = { width: 360, height: 740 };

// C's page at hash, on a desktop-sized or a phone-sized screen, with a referral's buttons
// drawn, and on the new-referral page an agency and form chosen (its fields drawn).
async function open(hash, viewport) {
  const page = await pageAt(env, env.hub.c, hash, viewport ? { viewport } : {});
  if (hash.startsWith('referral/')) {
    await page.getByRole('button', { name: 'Accept' }).waitFor();
  }
  if (hash === 'new') {
    await fillHousingReferral(page, AGENCY_B, {});
  }
  return page;
}

// The pages checked, each opened once (a loaded machine) and measured for the three checks
// below: axe's violations and the Tab walk on a desktop-sized screen, then the document's
// width once the same page is narrowed to a phone's. C's inbox, a referral C can still accept
// or decline (buttons shown), the new-referral page, the Clients page and the Report page.
let measured;
function measure() {
  measured ??= (async () => {
    const id = await env.hub.submit(env.hub.a, { to: AGENCY_C, givenName: 'Dara', familyName: 'Okafor' });
    const found = [];
    for (const [name, hash] of [['inbox', 'inbox'], ['referral page', `referral/${id}`],
      ['new-referral page', 'new'], ['clients page', 'clients'], ['report page', 'report']]) {
      const page = await open(hash);
      const violations = await axeViolations(page);
      const tab = await tabWalk(page);
      await page.setViewportSize(PHONE);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      found.push({ name, hash, violations, tab, width });
    }
    return found;
  })();
  return measured;
}

test('axe-core finds no WCAG 2.1 AA violations on the pages', async () => {
  for (const { name, violations } of await measure()) {
    assert.deepEqual(violations, [], `${name}: ${violations.map((v) => `${v.id} (${v.help}) at ${v.nodes.join(', ')}`).join('; ')}`);
  }
});

test('on a 360x740 screen the pages are no wider than the screen', async () => {
  for (const { name, width } of await measure()) {
    assert.ok(width <= PHONE.width, `${name}: the document is ${width} px wide on a ${PHONE.width} px screen`);
  }
});

test('Tab reaches every control on the pages', async () => {
  for (const { name, hash, tab: { all, reached } } of await measure()) {
    const missed = all.filter((c) => !reached.includes(c));
    assert.deepEqual(missed, [], `${name}: Tab never reaches ${missed.join(', ')}`);
    if (hash.startsWith('referral/')) {
      assert.ok(all.includes('button:action_accept') && all.includes('button:action_decline'),
        `${name}: the Accept and Decline buttons were not among the controls: ${all.join(', ')}`);
    }
  }
});

// A long unbroken word in a table cell wraps rather than widening the page. Runs after the
// checks above, as it adds a referral to C's inbox.
test('on a 360x740 screen a long client name does not widen the inbox', async () => {
  await env.hub.submit(env.hub.a, { to: AGENCY_C, givenName: 'Wolfeschlegelsteinhausenbergerdorff', familyName: 'Lee' });
  const page = await open('inbox', PHONE);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= PHONE.width, `inbox: the document is ${width} px wide on a ${PHONE.width} px screen`);
});

// A live redraw of the listing keeps a keyboard user's focus on the same link and announces
// the new referral in the status line (WCAG 2.4.3, 4.1.3).
test('a referral arriving live keeps the keyboard focus where it was and is announced', async () => {
  const { hub, browser } = env;
  const page = await holderPage(browser, hub, hub.c);
  await openLiveInbox(page, hub);
  const link = page.getByRole('link', { name: 'Dara Okafor', exact: true }).first();
  await link.focus();
  const ezra = await hub.submit(hub.a, { to: AGENCY_C, givenName: 'Ezra', familyName: 'Quinn' });
  await row(page, 'Ezra Quinn').waitFor();
  const focused = await page.evaluate(() => document.activeElement.textContent);
  assert.equal(focused, 'Dara Okafor', `focus moved to "${focused}" when a referral arrived`);
  const said = await page.getByRole('status').textContent();
  assert.match(said, new RegExp(`New referral ${ezra}`), `the new referral was not announced: "${said}"`);
});
