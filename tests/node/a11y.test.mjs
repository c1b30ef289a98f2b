// Accessibility of the chat page and the staff dashboard in a real browser (Debian's chromium under playwright-core,
// against the real service): axe-core's rules on each page in the states visitors and staff see, and the keyboard
// (Tab reaches every control in order, and each one's focus is visible). Started by
// tests/BotService.IntegrationTests/WebChat/AccessibilityTests.cs (one xUnit test per test here); the figures go to the
// test output and, under tests/run.sh, to $BOTSERVICE_REPORTS/accessibility.txt. What was checked and the results:
// docs/accessibility.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  base, load, open, out, rowIds, say, sendBox, signIn, staffCredentials,
} from './browser.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const axeVersion = JSON.parse(readFileSync(require.resolve('axe-core/package.json'), 'utf8')).version;

/**
 * What axe reports inside Web Chat that Web Chat's options cannot change, each with the reason it is accepted. Only
 * these rules, and only on Web Chat's own elements, pass; anything else axe reports (a violation, or a serious or
 * critical "needs review") fails the test. An entry no scan of the chat page needs any more fails too, so the list
 * cannot go stale. docs/accessibility.md has the same list.
 */
const webChatAccepted = {
  'aria-prohibited-attr': {
    kind: 'needs review',
    why: "Web Chat 4.18 puts aria-labelledby on each message's layout <div> (no role), where browsers may ignore it. "
      + 'axe cannot tell whether anything is lost; nothing is: the message is named by its role="article" element, which '
      + 'Web Chat labels with the same text, and announced by its live region. Not settable through any Web Chat option.',
  },
};

/** Runs axe-core (injected into the page from tests/node's node_modules) with its default rules: WCAG 2.0-2.2 A/AA and best practices. */
async function axe(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(axeSource);
  }
  return page.evaluate(() => window.axe.run(document, { resultTypes: ['violations', 'incomplete'] }));
}

/** An element axe names by Web Chat's own classes (webchat__…), not ours. */
const insideWebChat = node => node.target.every(selector => String(selector).includes('.webchat__'));

/**
 * Scans the page, prints every finding (an accepted one with its reason), records the page's figures, and returns the
 * findings that are not accepted; `used` collects the accepted rules the scan needed.
 */
async function scan(page, label, used = new Set()) {
  const result = await axe(page);
  const findings = [
    ...result.violations.map(v => ({ ...v, kind: 'violation' })),
    ...result.incomplete.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({ ...v, kind: 'needs review' })),
  ];
  const failing = [];
  for (const f of findings) {
    const accepted = webChatAccepted[f.id];
    const ok = accepted && accepted.kind === f.kind && f.nodes.every(insideWebChat);
    if (ok) { used.add(f.id); } else { failing.push(f); }
    console.log(`# ${label}: ${f.kind} ${f.id} (${f.impact}, ${f.nodes.length} elements): ${f.help}${ok ? `; accepted, inside Web Chat: ${accepted.why}` : ''}`);
    if (!ok) {
      for (const n of f.nodes.slice(0, 5)) { console.log(`#   ${n.target.join(' ')}: ${(n.failureSummary ?? '').replace(/\s+/g, ' ')}`); }
    }
  }
  const line = `${label}: ${result.violations.length} violations (${result.violations.map(v => `${v.id} ${v.impact}`).join(', ') || 'none'}), `
    + `${findings.length - result.violations.length} serious/critical needs-review (${findings.filter(f => f.kind === 'needs review').map(f => f.id).join(', ') || 'none'})`;
  report(line);
  return failing;
}

function report(line) {
  console.log('# ' + line);
  if (process.env.BOTSERVICE_REPORTS) {
    appendFileSync(join(process.env.BOTSERVICE_REPORTS, 'accessibility.txt'), line + '\n');
  }
}

function assertNone(failing, where) {
  assert.deepEqual(failing.map(f => `${f.kind} ${f.id}: ${f.nodes.map(n => n.target.join(' ')).join(' | ')}`), [], `axe on ${where}`);
}

/**
 * Presses Tab up to `max` times and returns the focus stops: which of `expected` (name → locator) each one is, and
 * whether its focus is visible: the pixels around it with focus differ from the same pixels once nothing has focus
 * (caret hidden, animations off), and where the element draws its own outline, that outline has a contrast of at
 * least 3:1 with the background around it (WCAG 1.4.11).
 */
async function tabStops(page, expected, max) {
  const stops = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const stop = await page.evaluate(describeFocus);
    if (!stop) { break; }
    stop.expected = null;
    for (const [name, locator] of Object.entries(expected)) {
      if (await locator.evaluate(el => el === document.activeElement).catch(() => false)) { stop.expected = name; }
    }
    stop.focused = await page.screenshot({ clip: stop.clip, caret: 'hide', animations: 'disabled' });
    stops.push(stop);
  }
  await page.evaluate(() => document.activeElement?.blur());
  await page.waitForTimeout(100);
  for (const stop of stops) {
    stop.visible = !(await page.screenshot({ clip: stop.clip, caret: 'hide', animations: 'disabled' })).equals(stop.focused);
  }
  return stops;
}

/** In the page: the focused element, the area around it, and its outline's contrast with the background behind it. */
function describeFocus() {
  const e = document.activeElement;
  if (!e || e === document.body) { return null; }
  const rgb = c => (c.match(/[\d.]+/g) ?? []).map(Number);
  const luminance = ([r, g, b]) => {
    const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const background = el => {
    for (let p = el; p; p = p.parentElement) {
      const c = rgb(getComputedStyle(p).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0)) { return c; }
    }
    return [255, 255, 255];
  };
  const style = getComputedStyle(e);
  let outlineContrast = null;
  if (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) {
    const [a, b] = [luminance(rgb(style.outlineColor)), luminance(background(e.parentElement ?? e))];
    outlineContrast = Math.round(((Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)) * 100) / 100;
  }
  const r = e.getBoundingClientRect();
  const pad = 12; // outlines sit outside (offset) or, for Web Chat's send box, on its container
  const x = Math.max(0, Math.floor(r.left - pad));
  const y = Math.max(0, Math.floor(r.top - pad));
  const clip = { x, y, width: Math.min(innerWidth, Math.ceil(r.right + pad)) - x, height: Math.min(innerHeight, Math.ceil(r.bottom + pad)) - y };
  const name = e.getAttribute('aria-label') || e.getAttribute('title') || e.textContent.trim().replace(/\s+/g, ' ').slice(0, 40) || e.tagName;
  return { name, tag: e.tagName.toLowerCase(), webChat: !!e.closest('#webchat'), clip, outline: `${style.outlineStyle} ${style.outlineWidth}`, outlineContrast };
}

/** Asserts that Tab reached every expected control in that order, and that every stop's focus is visible. */
function assertKeyboard(stops, expected, where) {
  for (const s of stops) {
    console.log(`# ${where}: Tab → ${s.tag} "${s.name}"${s.expected ? ` [${s.expected}]` : ''}: focus ${s.visible ? 'visible' : 'NOT visible'}`
      + (s.outlineContrast === null ? '' : `, outline ${s.outline} at ${s.outlineContrast}:1`));
  }
  const reached = stops.map(s => s.expected).filter(Boolean).filter((x, i, all) => all.indexOf(x) === i);
  assert.deepEqual(reached, Object.keys(expected), `${where}: the controls Tab reaches, in order`);
  assert.deepEqual(stops.filter(s => !s.visible).map(s => s.name), [], `${where}: focus not visible on`);
  assert.deepEqual(stops.filter(s => s.outlineContrast !== null && s.outlineContrast < 3).map(s => `${s.name} (${s.outlineContrast}:1)`), [],
    `${where}: focus outline under 3:1 against its background`);
  report(`keyboard, ${where}: ${stops.length} Tab stops, ${reached.length}/${Object.keys(expected).length} expected controls in order, `
    + `${stops.filter(s => s.visible).length}/${stops.length} with a visible focus`);
}

/** On a phone, neither the page nor any of its tables is wider than the screen (sideways scrolling, which the keyboard cannot do). */
async function assertNoSidewaysScroll(page, where) {
  const wide = await page.evaluate(() => [document.documentElement, ...document.querySelectorAll('.table-wrap')]
    .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => `${el.tagName.toLowerCase()}.${el.className} ${el.scrollWidth - el.clientWidth}px`));
  assert.deepEqual(wide, [], `${where} scrolls sideways on a phone`);
}

/** A visitor in Web Chat sends a crisis message; returns the new escalation's id once it is in the nurse's queue. */
async function crisisFrom(visitor, nurse) {
  const before = new Set(await rowIds(nurse));
  await say(visitor, 'I want to end my life');
  await visitor.getByRole('button', { name: 'Call 988' }).first().waitFor({ timeout: 5000 });
  for (const until = Date.now() + 10000; Date.now() < until;) {
    await nurse.reload();
    const id = (await rowIds(nurse)).find(x => !before.has(x));
    if (id) { return id; }
    await nurse.waitForTimeout(200);
  }
  assert.fail('the escalation never reached the queue');
}

test('axe: the chat page after the welcome, after a cited answer and a crisis card, and on a phone', async () => {
  const used = new Set();
  const s = await open();
  try {
    const browser = (await s.page.evaluate(() => navigator.userAgent)).match(/Chrome\/[\d.]+/)?.[0];
    report(`axe-core ${axeVersion}, default rules (WCAG 2.0-2.2 A and AA, best practices), in ${browser} (headless)`);
    await load(s.page);
    await s.page.waitForTimeout(300);
    assertNone(await scan(s.page, 'chat page, welcome', used), 'the chat page after the welcome');

    await say(s.page, 'how much is an infusion');
    await s.page.locator('.webchat__link-definitions').first().waitFor({ timeout: 15000 });
    await say(s.page, 'I want to end my life');
    await s.page.getByRole('button', { name: 'Call 988' }).first().waitFor({ timeout: 5000 });
    await s.page.waitForTimeout(300);
    assertNone(await scan(s.page, 'chat page, cited answer and crisis card', used), 'the chat page with an answer and a crisis card');

    await s.page.setViewportSize({ width: 390, height: 844 });
    await s.page.waitForTimeout(300);
    assertNone(await scan(s.page, 'chat page, phone 390x844', used), 'the chat page on a phone');
  } finally {
    await s.close();
  }
  assert.deepEqual(Object.keys(webChatAccepted).filter(id => !used.has(id)), [], 'accepted Web Chat findings that no longer occur: remove them');
});

test('axe: the dashboard sign-in, queue and conversation pages in light, dark and phone layouts, and a staff reply in the chat page', async () => {
  const nurse = await open();
  const visitor = await open();
  try {
    await nurse.page.goto(base + '/account/login');
    assertNone(await scan(nurse.page, 'dashboard sign-in'), 'the sign-in page');
    await signIn(nurse.page, staffCredentials());
    await load(visitor.page);
    const id = await crisisFrom(visitor.page, nurse.page);
    await nurse.page.waitForTimeout(300);
    assertNone(await scan(nurse.page, 'dashboard queue'), 'the queue');

    await nurse.page.goto(`${base}/dashboard/escalations/${id}`);
    assertNone(await scan(nurse.page, 'dashboard conversation, open'), 'the conversation page');
    await nurse.page.getByRole('button', { name: 'Claim' }).click();
    await nurse.page.locator('#reply-text').fill('A nurse is here with you now. Are you safe right now?');
    await nurse.page.getByRole('button', { name: 'Send reply' }).click();
    await nurse.page.locator('.status[role="status"]').waitFor();
    assertNone(await scan(nurse.page, 'dashboard conversation, claimed and replied'), 'the claimed conversation page');

    await visitor.page.locator('.clinic-sender').first().waitFor({ timeout: 5000 });
    assertNone(await scan(visitor.page, 'chat page, staff reply'), 'the chat page with a staff reply');

    await nurse.page.emulateMedia({ colorScheme: 'dark' });
    assertNone(await scan(nurse.page, 'dashboard conversation, dark'), 'the conversation page in dark mode');
    await nurse.page.goto(base + '/dashboard');
    assertNone(await scan(nurse.page, 'dashboard queue, dark'), 'the queue in dark mode');
    await nurse.page.emulateMedia({ colorScheme: 'light' });
    await nurse.page.setViewportSize({ width: 390, height: 844 });
    assertNone(await scan(nurse.page, 'dashboard queue, phone 390x844'), 'the queue on a phone');
    await assertNoSidewaysScroll(nurse.page, 'the queue');
    await nurse.page.goto(`${base}/dashboard/escalations/${id}`);
    assertNone(await scan(nurse.page, 'dashboard conversation, phone 390x844'), 'the conversation page on a phone');
    await assertNoSidewaysScroll(nurse.page, 'the conversation page');

    // The screenshots in docs/screenshots (after the scans: a full-page screenshot resizes the window for a moment).
    mkdirSync(out, { recursive: true });
    await nurse.page.screenshot({ path: join(out, 'dashboard-conversation-phone.png'), fullPage: true });
    await nurse.page.goto(base + '/dashboard');
    await nurse.page.screenshot({ path: join(out, 'dashboard-queue-phone.png'), fullPage: true });
  } finally {
    await visitor.close();
    await nurse.close();
  }
});

test('keyboard: Tab reaches the chat page controls in order, each with a visible focus', async () => {
  const s = await open();
  try {
    await load(s.page);
    await s.page.waitForTimeout(300);
    const expected = {
      'Talk to staff': s.page.getByRole('button', { name: 'Talk to staff' }),
      'End chat': s.page.getByRole('button', { name: 'End chat' }),
      'link 911': s.page.getByRole('link', { name: '911' }),
      'link 988': s.page.getByRole('link', { name: '988' }),
      'suggested action': s.page.locator('.webchat__suggested-action').first(),
      'message box': sendBox(s.page),
      'send button': s.page.getByRole('button', { name: 'Send', exact: true }),
    };
    const stops = await tabStops(s.page, expected, 14);
    assertKeyboard(stops, expected, 'chat page');

    // The keyboard alone gets an answer: a suggested action by Enter, then a typed question sent with the send button.
    await expected['suggested action'].focus();
    await s.page.keyboard.press('Enter');
    await s.page.locator('.webchat__stacked-layout--from-user').first().waitFor({ timeout: 5000 });
    await sendBox(s.page).focus();
    await s.page.keyboard.type('how much is an infusion');
    await s.page.keyboard.press('Tab');
    assert.equal(await expected['send button'].evaluate(el => el === document.activeElement), true, 'Tab from the message box should reach Send');
    await s.page.keyboard.press('Enter');
    await s.page.getByText('$275', { exact: false }).first().waitFor({ timeout: 15000 });
  } finally {
    await s.close();
  }
});

test('keyboard: the dashboard by Tab from sign-in to claim, reply and resolve, each with a visible focus', async () => {
  const nurse = await open();
  const visitor = await open();
  try {
    const credentials = staffCredentials();
    await nurse.page.goto(base + '/account/login');
    const signInControls = {
      'e-mail': nurse.page.getByRole('textbox', { name: 'E-mail' }),
      password: nurse.page.getByLabel('Password'),
      'Sign in': nurse.page.getByRole('button', { name: 'Sign in' }),
    };
    assertKeyboard(await tabStops(nurse.page, signInControls, 6), signInControls, 'dashboard sign-in');
    // Signing in by keyboard: type, Tab, type, Enter.
    await signInControls['e-mail'].focus();
    await nurse.page.keyboard.type(credentials.email);
    await nurse.page.keyboard.press('Tab');
    await nurse.page.keyboard.type(credentials.password);
    await nurse.page.keyboard.press('Enter');
    await nurse.page.waitForURL(/\/dashboard/);

    await load(visitor.page);
    const id = await crisisFrom(visitor.page, nurse.page);
    const queueControls = {
      Queue: nurse.page.getByRole('link', { name: 'Queue' }),
      'Sign out': nurse.page.getByRole('button', { name: 'Sign out' }),
      Level: nurse.page.getByLabel('Level'),
      Status: nurse.page.getByLabel('Status', { exact: true }),
      Channel: nurse.page.getByLabel('Channel'),
      'Only mine': nurse.page.getByLabel('Only mine'),
      'Apply filters': nurse.page.getByRole('button', { name: 'Apply filters' }),
      'Open (the new escalation)': nurse.page.locator(`tr[data-escalation-id="${id}"] a`),
    };
    assertKeyboard(await tabStops(nurse.page, queueControls, 12), queueControls, 'dashboard queue');

    // Open the escalation and claim it by keyboard.
    await queueControls['Open (the new escalation)'].focus();
    await nurse.page.keyboard.press('Enter');
    await nurse.page.waitForURL(new RegExp(id));
    const openControls = {
      'Back to the queue': nurse.page.getByRole('link', { name: '← Back to the queue' }),
      Claim: nurse.page.getByRole('button', { name: 'Claim' }),
      'note text': nurse.page.getByLabel('Internal note (staff only)'),
      'Add note': nurse.page.getByRole('button', { name: 'Add note' }),
    };
    assertKeyboard(await tabStops(nurse.page, openControls, 8), openControls, 'dashboard conversation, open');
    await openControls.Claim.focus();
    await nurse.page.keyboard.press('Enter');
    await nurse.page.locator('#reply-text').waitFor();

    const claimedControls = {
      'reply text': nurse.page.getByLabel('Reply to the visitor (sent as “Clinic staff”)'),
      'Send reply': nurse.page.getByRole('button', { name: 'Send reply' }),
      'note text': nurse.page.getByLabel('Internal note (staff only)'),
      'Add note': nurse.page.getByRole('button', { name: 'Add note' }),
      Outcome: nurse.page.getByLabel('Outcome'),
      Resolve: nurse.page.getByRole('button', { name: 'Resolve' }),
    };
    await nurse.page.getByRole('link', { name: '← Back to the queue' }).focus();
    assertKeyboard(await tabStops(nurse.page, claimedControls, 10), claimedControls, 'dashboard conversation, claimed');

    // Reply by keyboard, and the visitor gets it labelled.
    await claimedControls['reply text'].focus();
    await nurse.page.keyboard.type('A nurse is here with you now.');
    await nurse.page.keyboard.press('Tab');
    await nurse.page.keyboard.press('Enter');
    await visitor.page.locator('.clinic-sender').first().waitFor({ timeout: 5000 });

    // Resolve by keyboard.
    await claimedControls.Outcome.focus();
    await nurse.page.keyboard.press('Tab');
    await nurse.page.keyboard.press('Enter');
    await nurse.page.getByRole('button', { name: 'Reopen' }).waitFor({ timeout: 5000 });
  } finally {
    await visitor.close();
    await nurse.close();
  }
});

test('axe: the unanswered-question review page in light, dark and phone layouts, and marking a group handled', async () => {
  const mark = process.env.WC_MARK;
  assert.ok(mark, 'WC_MARK is needed');
  const visitor = await open();
  const nurse = await open();
  try {
    // Two visitors' phrasings of a question the articles don't cover (the marker keeps this run's group apart).
    await load(visitor.page);
    await say(visitor.page, `can I bring my dog ${mark} to the session`);
    await visitor.page.getByText("I couldn't find that", { exact: false }).first().waitFor({ timeout: 15000 });
    await say(visitor.page, `may I bring my dog ${mark} along`);
    await visitor.page.getByText("I couldn't find that", { exact: false }).nth(1).waitFor({ timeout: 15000 });

    await signIn(nurse.page, staffCredentials());
    await nurse.page.getByRole('link', { name: 'Unanswered questions' }).click();
    await nurse.page.waitForURL(/\/dashboard\/review/);
    const group = nurse.page.locator('li.review-group', { hasText: mark });
    // The questions are recorded just after the replies, each in the transcript's next group commit: wait for both.
    const both = async () => (await group.count()) === 1 && /2 times/.test(await group.innerText());
    for (const until = Date.now() + 10000; !(await both()) && Date.now() < until;) {
      await nurse.page.waitForTimeout(200);
      await nurse.page.reload();
    }
    assert.equal(await group.count(), 1, 'the two phrasings should form one group');
    assert.match(await group.innerText(), /2 times/);
    assertNone(await scan(nurse.page, 'dashboard review'), 'the review page');
    await nurse.page.emulateMedia({ colorScheme: 'dark' });
    assertNone(await scan(nurse.page, 'dashboard review, dark'), 'the review page in dark mode');
    await nurse.page.emulateMedia({ colorScheme: 'light' });
    await nurse.page.setViewportSize({ width: 390, height: 844 });
    assertNone(await scan(nurse.page, 'dashboard review, phone 390x844'), 'the review page on a phone');
    await assertNoSidewaysScroll(nurse.page, 'the review page');
    mkdirSync(out, { recursive: true });
    await nurse.page.screenshot({ path: join(out, 'dashboard-review-phone.png'), fullPage: true });

    // Marking it handled, by keyboard: the group leaves the page and the page says so.
    await group.getByRole('button', { name: /Mark handled/ }).focus();
    await nurse.page.keyboard.press('Enter');
    await nurse.page.locator('.status[role="status"]').waitFor({ timeout: 5000 });
    assert.match(await nurse.page.locator('.status[role="status"]').innerText(), /Marked 2 questions handled/);
    assert.equal(await nurse.page.locator('li.review-group', { hasText: mark }).count(), 0);
    assertNone(await scan(nurse.page, 'dashboard review, after marking handled'), 'the review page after marking a group handled');
  } finally {
    await visitor.close();
    await nurse.close();
  }
});
