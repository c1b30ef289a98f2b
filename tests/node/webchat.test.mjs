// The clinic's chat page (GET /) in a real browser: playwright-core driving Debian's chromium headless against the
// real service, with the official Web Chat bundle the service serves itself. Started by
// tests/BotService.IntegrationTests/WebChat/WebChatBrowserTests.cs (one xUnit test per test here); what it passes and
// the helpers: browser.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertClean, base, bubbles, crisisStart, load, open, out, rowIds, say, sendBox, signIn, staffCredentials,
} from './browser.mjs';

test('welcome once, with suggestions, the notice and strict headers', async () => {
  const response = await fetch(base + '/');
  const policy = response.headers.get('content-security-policy');
  assert.match(policy, /script-src 'self';/);
  assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/);
  const s = await open();
  try {
    await load(s.page);
    await s.page.waitForTimeout(500); // a doubled welcome would have arrived by now
    const notice = s.page.locator('#notice');
    assert.match(await notice.innerText(), /not medical advice/i);
    assert.match(await notice.innerText(), /911/);
    assert.match(await notice.innerText(), /988/);
    assert.equal(await s.page.locator('.webchat__bubble').count(), 1, 'the welcome should show exactly once');
    assert.ok(await s.page.locator('.webchat__suggested-action').count() >= 3);
    // Keyboard: the header's buttons come first in the tab order, labelled.
    await s.page.keyboard.press('Tab');
    assert.equal(await s.page.evaluate(() => document.activeElement?.id), 'talk-to-staff');
    await s.page.keyboard.press('Tab');
    assert.equal(await s.page.evaluate(() => document.activeElement?.id), 'end-chat');
    assert.ok(await sendBox(s.page).getAttribute('aria-label'), 'the send box has no accessible name');
    assertClean(s);
  } finally {
    await s.close();
  }
});

test('a question gets the cited answer', async () => {
  const s = await open();
  try {
    await load(s.page);
    await say(s.page, 'how much is an infusion');
    await s.page.getByText('$275', { exact: false }).first().waitFor({ timeout: 15000 });
    // Web Chat's own citation rendering: a citation in the text and the source listed under the answer.
    await s.page.locator('.webchat__render-markdown__citation, .webchat__link-definitions').first().waitFor({ timeout: 5000 });
    assert.ok(await s.page.locator('.webchat__link-definitions').count() >= 1, 'no source list under the answer');
    assertClean(s);
  } finally {
    await s.close();
  }
});

test('a vague question gets "did you mean", and a tap asks the chosen one', async () => {
  const s = await open();
  try {
    await load(s.page);
    await say(s.page, 'is it safe?');
    await s.page.getByText('Did you mean', { exact: false }).first().waitFor({ timeout: 15000 });
    // The choices replace the welcome's suggestions: the headings offered in the reply.
    const choice = s.page.locator('.webchat__suggested-action').last();
    await choice.waitFor({ timeout: 5000 });
    const label = (await choice.innerText()).trim();
    assert.ok(label.length > 0);
    await choice.click();
    // The tap sends the question with the heading, and the answer comes with its source.
    await s.page.getByText(`is it safe – ${label.replace(/…$/, '')}`, { exact: false }).first().waitFor({ timeout: 15000 });
    await s.page.locator('.webchat__link-definitions').first().waitFor({ timeout: 15000 });
    assertClean(s);
  } finally {
    await s.close();
  }
});

test('a crisis message shows the crisis card within a second', async () => {
  const s = await open();
  try {
    await load(s.page);
    // Timed in the page, from the key press to the card's first paint in the DOM (no test-driver polling in between).
    const box = sendBox(s.page);
    await box.click();
    await box.fill('I want to end my life');
    await s.page.evaluate(() => {
      window.cardShownAt = 0;
      const seen = () => [...document.querySelectorAll('button')].some(b => b.textContent.trim() === 'Call 988');
      new MutationObserver(() => { if (!window.cardShownAt && seen()) { window.cardShownAt = performance.now(); } })
        .observe(document.body, { subtree: true, childList: true });
      document.addEventListener('keydown', () => { window.sentAt ??= performance.now(); }, { capture: true, once: true });
    });
    await box.press('Enter');
    await s.page.getByText(crisisStart, { exact: false }).first().waitFor({ timeout: 5000 });
    await s.page.getByRole('button', { name: 'Call 988' }).first().waitFor({ timeout: 5000 });
    const elapsed = Math.round(await s.page.evaluate(() => window.cardShownAt - window.sentAt));
    console.log(`# crisis card shown after ${elapsed} ms`);
    assert.ok(elapsed < 1000, `the crisis card took ${elapsed} ms`);
    for (const name of ['Call 911', 'Text 988', 'Text HOME to 741741']) {
      assert.equal(await s.page.getByRole('button', { name }).count() >= 1, true, `no "${name}" button`);
    }
    assertClean(s);
  } finally {
    await s.close();
  }
});

test('reload resumes with the history, End chat clears it', async () => {
  const s = await open();
  try {
    await load(s.page);
    await say(s.page, 'how much is an infusion');
    await s.page.getByText('$275', { exact: false }).first().waitFor({ timeout: 15000 });
    const stored = await s.page.evaluate(() => JSON.parse(sessionStorage.getItem('clinic.chat')));
    assert.ok(stored.conversationId && stored.token && stored.started);
    const before = await bubbles(s.page).count();

    await s.page.reload();
    await s.page.getByText('$275', { exact: false }).first().waitFor({ timeout: 15000 });
    await s.page.getByText('how much is an infusion', { exact: true }).first().waitFor({ timeout: 5000 });
    const after = await s.page.evaluate(() => JSON.parse(sessionStorage.getItem('clinic.chat')));
    assert.equal(after.conversationId, stored.conversationId, 'the reload started another conversation');
    // Refreshed, not reused (a refresh within the same second may give the same string: the JWT's times are in seconds).
    assert.ok(s.requests.some(u => u === `${base}/v3/directline/tokens/refresh`), 'the token was not refreshed on reload');
    assert.ok(after.token, 'no token kept after the reload');
    await s.page.waitForTimeout(300);
    assert.equal(await bubbles(s.page).count(), before, 'the history is not the same after the reload');

    await s.page.locator('#end-chat').click();
    await s.page.waitForLoadState('load');
    await sendBox(s.page).waitFor({ timeout: 15000 });
    await s.page.locator('.webchat__suggested-action').first().waitFor({ timeout: 15000 });
    const fresh = await s.page.evaluate(() => JSON.parse(sessionStorage.getItem('clinic.chat')));
    assert.notEqual(fresh.conversationId, stored.conversationId, 'End chat kept the conversation');
    assert.equal(await s.page.getByText('$275', { exact: false }).count(), 0, 'End chat left the old answer on screen');
    assertClean(s);
  } finally {
    await s.close();
  }
});

test('screenshots at 390x844 and desktop', async () => {
  mkdirSync(out, { recursive: true });
  for (const [name, viewport] of [['webchat-phone.png', { width: 390, height: 844 }], ['webchat-desktop.png', { width: 1280, height: 800 }]]) {
    const s = await open(viewport);
    try {
      await load(s.page);
      await say(s.page, 'how much is an infusion');
      await s.page.getByText('$275', { exact: false }).first().waitFor({ timeout: 15000 });
      await s.page.waitForTimeout(400); // let the scroll settle
      // Nothing wider than the screen: no sideways scrolling on a phone.
      const overflow = await s.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the ${viewport.width}px screen`);
      await s.page.screenshot({ path: join(out, name) });
      assertClean(s);
    } finally {
      await s.close();
    }
  }
});

test('talk to staff asks for staff', async () => {
  const s = await open();
  try {
    await load(s.page);
    await s.page.locator('#talk-to-staff').click();
    await s.page.getByText("I've asked the clinic's staff to join this chat", { exact: false }).first().waitFor({ timeout: 10000 });
    assertClean(s);
  } finally {
    await s.close();
  }
});

test('staff hand-off: crisis in Web Chat, nurse claims and replies, visitor sees Clinic staff, nurse resolves', async () => {
  const nurse = await open();
  const visitor = await open({ width: 390, height: 844 });
  try {
    // The nurse signs in and watches the queue (live over server-sent events).
    await signIn(nurse.page, staffCredentials());
    const before = new Set(await rowIds(nurse.page));
    await nurse.page.waitForTimeout(300); // the event stream is connected

    // The visitor sends a crisis message in Web Chat; it appears in the nurse's queue within 2 s.
    await load(visitor.page);
    await say(visitor.page, 'I want to end my life');
    const sentAt = Date.now();
    let id;
    while (!id && Date.now() - sentAt < 5000) {
      id = (await rowIds(nurse.page)).find(x => !before.has(x));
      if (!id) { await nurse.page.waitForTimeout(25); }
    }
    const appeared = Date.now() - sentAt;
    console.log(`# escalation in the nurse's queue after ${appeared} ms`);
    assert.ok(id, 'the escalation never appeared in the queue');
    assert.ok(appeared < 2000, `the escalation took ${appeared} ms to appear`);
    assert.equal(await nurse.page.locator(`tr[data-escalation-id="${id}"]`).getAttribute('data-level'), 'emergency');
    await visitor.page.getByRole('button', { name: 'Call 988' }).first().waitFor({ timeout: 5000 });

    // The nurse claims and replies; the visitor sees it labelled "Clinic staff" (the words themselves unprefixed), with
    // the staff avatar instead of the bot's, and a screen reader hears who wrote it.
    await nurse.page.goto(`${base}/dashboard/escalations/${id}`);
    await nurse.page.getByRole('button', { name: 'Claim' }).click();
    await nurse.page.locator('#reply-text').waitFor();
    const reply = `A nurse is here with you now (${Math.random().toString(36).slice(2, 8)}). Are you safe right now?`;
    await nurse.page.locator('#reply-text').fill(reply);
    await nurse.page.getByRole('button', { name: 'Send reply' }).click();
    const message = visitor.page.locator('.webchat__stacked-layout').filter({ has: visitor.page.getByText(reply, { exact: true }) });
    await message.waitFor({ timeout: 5000 });
    assert.equal((await message.locator('.webchat__bubble__content').innerText()).trim(), reply, 'the bubble should hold the words only');
    assert.equal(await message.locator('.clinic-sender').innerText(), 'Clinic staff', 'no visible "Clinic staff" label');
    assert.ok(await message.locator('.clinic-sender').isVisible());
    assert.equal(await message.locator('.clinic-staff-avatar').innerText(), 'Staff', 'no staff avatar');
    assert.equal(await message.locator('.webchat__initialsAvatar').count(), 0, "the staff message shows the bot's avatar");
    // Web Chat's spoken name for the message (read when it is focused in the transcript) and its live region.
    await visitor.page.getByRole('article', { name: 'From the clinic: Clinic staff wrote: ' + reply, exact: true }).waitFor({ state: 'attached', timeout: 5000 });
    assert.match(await visitor.page.locator('.webchat__live-region-transcript').textContent(), new RegExp('Clinic staff wrote: ' + reply.replace(/[().?]/g, '\\$&')));
    // The bot's messages keep the bot's avatar and no staff label.
    const welcome = visitor.page.locator('.webchat__stacked-layout').filter({ hasText: 'Hello!' }).first();
    assert.equal(await welcome.locator('.clinic-sender, .clinic-staff-avatar').count(), 0, 'the bot is labelled as staff');
    assert.equal(await welcome.locator('.webchat__initialsAvatar').count(), 1, "the bot's avatar is missing");
    await visitor.page.waitForTimeout(400); // let Web Chat's scroll to the new message settle
    await visitor.page.screenshot({ path: join(out, 'webchat-staff-reply-phone.png') });

    // While the nurse has the conversation, the bot does not answer the visitor's messages.
    const answers = await visitor.page.getByText('$275', { exact: false }).count();
    await say(visitor.page, 'how much is an infusion');
    await visitor.page.getByText('how much is an infusion', { exact: true }).first().waitFor({ timeout: 5000 });
    await visitor.page.waitForTimeout(1500);
    assert.equal(await visitor.page.getByText('$275', { exact: false }).count(), answers, 'the bot answered a claimed conversation');

    // The nurse resolves.
    await nurse.page.locator('#resolve-outcome').selectOption('handled');
    await nurse.page.getByRole('button', { name: 'Resolve' }).click();
    await nurse.page.getByRole('button', { name: 'Reopen' }).waitFor({ timeout: 5000 });
    assertClean(visitor);
  } finally {
    await visitor.close();
    await nurse.close();
  }
});
