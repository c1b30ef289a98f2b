// What the browser tests (webchat.test.mjs, a11y.test.mjs) share: Debian's chromium under playwright-core, headless,
// with a fresh profile each time; the chat page's send box; signing in to the staff dashboard. The tests are started
// from tests/BotService.IntegrationTests (WebChatBrowserTests, AccessibilityTests), which pass:
//   WC_BASE        http://127.0.0.1:PORT (the service)
//   WC_OUT         a folder for screenshots
//   WC_STAFF_EMAIL, WC_STAFF_PASSWORD   a staff account for /dashboard
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const base = process.env.WC_BASE ?? 'http://127.0.0.1:3978';
export const out = process.env.WC_OUT ?? join(tmpdir(), 'webchat-screenshots');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
// shared/feasibility.md: Debian's chromium under playwright-core, headless, nothing fetched from outside.
const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
export const crisisStart = 'If you are in immediate danger, call 911';

/** A fresh browser profile; every request the page makes is recorded, and console errors (CSP violations among them). */
export async function open(viewport = { width: 1280, height: 800 }, options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'wc-profile-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: flags, viewport, ...options });
  const page = context.pages()[0] ?? await context.newPage();
  const requests = [];
  const errors = [];
  page.on('request', r => requests.push(r.url()));
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', e => errors.push(String(e)));
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, requests, errors, close };
}

export const sendBox = page => page.locator('[data-id="webchat-sendbox-input"]');
export const bubbles = page => page.locator('.webchat__bubble__content');

/** Loads the page and waits for the welcome (the bot's conversationUpdate reply) to show. */
export async function load(page) {
  await page.goto(base + '/');
  await page.getByText('Hello!', { exact: false }).first().waitFor({ timeout: 15000 }).catch(() => {});
  await sendBox(page).waitFor({ timeout: 15000 });
  await page.locator('.webchat__suggested-action').first().waitFor({ timeout: 15000 });
}

export async function say(page, text) {
  const box = sendBox(page);
  await box.click();
  await box.fill(text);
  await box.press('Enter');
}

export function assertClean(session) {
  const outside = session.requests.filter(u => !u.startsWith(base) && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(outside, [], 'the page fetched something from outside');
  const csp = session.errors.filter(e => /Content Security Policy/i.test(e));
  assert.deepEqual(csp, [], 'CSP violations');
}

export function staffCredentials() {
  const email = process.env.WC_STAFF_EMAIL;
  const password = process.env.WC_STAFF_PASSWORD;
  assert.ok(email && password, 'WC_STAFF_EMAIL and WC_STAFF_PASSWORD are needed');
  return { email, password };
}

/** Signs in to the dashboard from its sign-in page (already open, or opened here) and waits for the queue. */
export async function signIn(page, { email, password }) {
  if (!page.url().includes('/account/login')) {
    await page.goto(base + '/account/login');
  }
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/dashboard/);
}

/** The escalation rows' ids in the queue page as it is now. */
export const rowIds = page => page.locator('tr[data-escalation-id]').evaluateAll(rows => rows.map(r => r.dataset.escalationId));
