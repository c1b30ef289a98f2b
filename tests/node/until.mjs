// Polling for the Node tests: waits until a condition holds, or fails the test saying what it waited for.
import assert from 'node:assert/strict';

/** Resolves with the condition's first truthy value, checking every 20 ms; fails after `ms`. */
export async function until(what, condition, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const value = condition();
    if (value) {
      return value;
    }
    await new Promise(r => setTimeout(r, 20));
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}
