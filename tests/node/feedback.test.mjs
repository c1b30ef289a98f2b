// Answer feedback in the chat page (a real browser against the real service): Web Chat 4.18's thumbs under a cited
// answer, pressed by keyboard on a phone. Started by tests/BotService.IntegrationTests/Feedback/FeedbackBrowserTests.cs,
// which passes WC_RESULT (a file: this test writes the conversation id there, and the C# side checks the stored vote).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertClean, load, open, out, say } from './browser.mjs';

test('feedback: thumbs down on an answer, by keyboard on a phone, 44px targets, pressed state', async () => {
  const s = await open({ width: 390, height: 844 });
  try {
    await load(s.page);
    // The welcome is not an answer: no feedback buttons on it.
    assert.equal(await s.page.getByRole('button', { name: 'This answer did not help' }).count(), 0);
    await say(s.page, 'how much is an infusion');
    const down = s.page.getByRole('button', { name: 'This answer did not help' });
    const up = s.page.getByRole('button', { name: 'This answer helped' });
    await down.first().waitFor({ timeout: 15000 });
    assert.equal(await down.count(), 1, 'one answer, one pair of buttons');
    for (const button of [up, down]) {
      const box = await button.boundingBox();
      assert.ok(box.width >= 44 && box.height >= 44, `feedback button is ${box.width}x${box.height}, under 44x44`);
    }
    assert.equal(await down.getAttribute('aria-pressed'), 'false');

    await down.focus();
    await s.page.keyboard.press('Enter');
    await s.page.waitForFunction(() => document.querySelector('[aria-label="This answer did not help"]')?.getAttribute('aria-pressed') === 'true');
    await s.page.waitForTimeout(1500); // Web Chat sends the vote 500 ms after the last press
    // No refusal came back (a vote the service could not store is answered with "Sorry, that feedback ...").
    assert.equal(await s.page.getByText('that feedback could not be recorded', { exact: false }).count(), 0);
    assertClean(s);
    mkdirSync(out, { recursive: true });
    await s.page.screenshot({ path: join(out, 'webchat-feedback-phone.png') });

    const saved = await s.page.evaluate(() => JSON.parse(sessionStorage.getItem('clinic.chat')));
    assert.ok(process.env.WC_RESULT, 'WC_RESULT is needed');
    writeFileSync(process.env.WC_RESULT, saved.conversationId);
  } finally {
    await s.close();
  }
});
