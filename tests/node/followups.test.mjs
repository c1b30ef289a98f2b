// Multi-turn conversations through Direct Line with the official botframework-directlinejs client: follow-up
// questions read with the conversation's topic, topic changes, expiry, safety follow-ups and "did you mean" with a tap
// on a suggested action. The conversations are tests/followups/conversations.jsonl (one per line: its turns, each with
// what the visitor says and what must come back). Started by
// tests/BotService.IntegrationTests/FollowUps/FollowUpConversationTests.cs against the real service (topics there
// expire after 3 s unused), with DL_BASE. Prints the share of conversations resolved correctly (every turn as
// expected) and, under tests/run.sh, appends it to $BOTSERVICE_REPORTS/followups.txt; fails below FOLLOWUP_FLOOR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { until } from './until.mjs';

const require = createRequire(import.meta.url);
globalThis.XMLHttpRequest = require('xhr2');
globalThis.WebSocket = require('ws');
const { DirectLine } = require('botframework-directlinejs');

const base = process.env.DL_BASE ?? 'http://127.0.0.1:3978';
const domain = `${base}/v3/directline`;
const floor = Number(process.env.FOLLOWUP_FLOOR ?? '0.85');
const conversations = readFileSync(new URL('../followups/conversations.jsonl', import.meta.url), 'utf8')
  .split('\n').filter(l => l.trim()).map(l => JSON.parse(l));

const preface = 'Taking this as a question about ';
const didYouMean = "This could be about more than one thing in the clinic's articles. Did you mean:";
const decline = "I couldn't find that in the clinic's articles";

const sleep = ms => new Promise(r => setTimeout(r, ms));

/** Opens a Web Chat conversation as the page does: a token from the page's endpoint, then directlinejs over a WebSocket. */
async function open() {
  const response = await fetch(`${base}/api/webchat/token`, { method: 'POST' });
  assert.equal(response.status, 200);
  const { token } = await response.json();
  const directLine = new DirectLine({ domain, token, webSocket: true });
  const received = [];
  const subscription = directLine.activity$.subscribe(a => received.push(a), () => {});
  return { directLine, received, close: () => { subscription.unsubscribe(); directLine.end(); } };
}

/** Sends one message and collects the bot's replies to it (until none has come for a moment). */
async function say(client, text) {
  const id = await new Promise((resolve, reject) => client.directLine.postActivity({
    type: 'message', from: { id: 'visitor' }, text, channelData: { clientActivityID: `fu-${Math.random().toString(36).slice(2)}` },
  }).subscribe(resolve, reject));
  assert.notEqual(id, 'retry');
  const replies = () => client.received.filter(a => a.type === 'message' && a.replyToId === id && a.from?.role === 'bot');
  await until(`a reply to "${text}"`, () => replies().length > 0, 15000);
  let count = 0;
  while (count !== replies().length) {
    count = replies().length;
    await sleep(250);
  }
  return replies();
}

/** What kind of reply a turn got, and its main message (the one after any crisis wording). */
function judge(replies) {
  const card = replies.flatMap(r => r.attachments ?? []).find(a => a.contentType === 'application/vnd.microsoft.card.hero');
  const main = replies[replies.length - 1];
  const text = main.text ?? '';
  let kind;
  if (card?.content?.title === 'Help right now') {
    kind = 'crisis';
  } else if (card?.content?.title === 'Please get checked') {
    kind = 'urgent';
  } else if (text.includes(didYouMean) && main.suggestedActions?.actions?.length >= 2) {
    kind = 'didYouMean';
  } else if (text.includes(decline)) {
    kind = 'decline';
  } else if ((main.entities ?? []).some(e => e.type === 'https://schema.org/Message')) {
    kind = 'answer';
  } else {
    kind = 'other';
  }
  return { kind, main, text };
}

/** Runs one conversation; returns null if every turn went as expected, else what went wrong first. */
async function run(conversation) {
  const client = await open();
  try {
    let previous = null;
    for (const [n, turn] of conversation.turns.entries()) {
      if (turn.pauseSeconds) {
        await sleep(turn.pauseSeconds * 1000);
      }
      let text = turn.say;
      let tapped = null;
      if (turn.tap !== undefined) {
        const actions = previous?.main.suggestedActions?.actions ?? [];
        tapped = actions.at(turn.tap);
        if (!tapped || tapped.type !== 'imBack') {
          return `turn ${n + 1}: no imBack suggested action ${turn.tap} to tap`;
        }
        text = tapped.value;
      }
      const got = judge(await say(client, text));
      const wanted = [].concat(turn.reply ?? 'answer');
      const shown = `"${text}" → ${got.kind}: ${got.text.slice(0, 140).replace(/\n/g, ' ')}`;
      if (!wanted.includes(got.kind)) {
        return `turn ${n + 1}: wanted ${wanted.join(' or ')}, got ${shown}`;
      }
      if (got.kind !== 'crisis' && got.kind !== 'urgent') {
        if (turn.about && !got.text.startsWith(`${preface}${turn.about}:`)) {
          return `turn ${n + 1}: wanted it read as about "${turn.about}", got ${shown}`;
        }
        if (!turn.about && got.text.includes(preface)) {
          return `turn ${n + 1}: wanted it read on its own, got ${shown}`;
        }
      }
      if (turn.any && !turn.any.some(p => got.text.toLowerCase().includes(p.toLowerCase()))) {
        return `turn ${n + 1}: wanted one of ${JSON.stringify(turn.any)}, got ${shown}`;
      }
      if (tapped) {
        const section = tapped.title.replace(/…$/, '');
        if (!JSON.stringify(got.main.entities ?? []).includes(section)) {
          return `turn ${n + 1}: the tap on "${tapped.title}" was not answered from that section: ${shown}`;
        }
      }
      previous = got;
    }
    return null;
  } finally {
    client.close();
  }
}

test('multi-turn conversations resolve as expected', async () => {
  // A few conversations at a time, each on its own token, conversation and WebSocket.
  const results = new Array(conversations.length);
  let next = 0;
  await Promise.all(Array.from({ length: 6 }, async () => {
    while (next < conversations.length) {
      const i = next++;
      try {
        results[i] = await run(conversations[i]);
      } catch (e) {
        results[i] = `error: ${e.message}`;
      }
    }
  }));

  const lines = [];
  const resolved = results.filter(r => r === null).length;
  const share = resolved / conversations.length;
  lines.push(`follow-up conversations through Direct Line: resolved correctly ${resolved}/${conversations.length} (${Math.round(share * 100)} %)`);
  const kinds = [...new Set(conversations.map(c => c.kind))];
  lines.push('by kind: ' + kinds.map(k => {
    const of = conversations.map((c, i) => [c, results[i]]).filter(([c]) => c.kind === k);
    return `${k} ${of.filter(([, r]) => r === null).length}/${of.length}`;
  }).join(', '));
  conversations.forEach((c, i) => results[i] && lines.push(`missed ${c.id}: ${results[i]}`));
  for (const line of lines) {
    console.log(line);
  }
  if (process.env.BOTSERVICE_REPORTS) {
    appendFileSync(join(process.env.BOTSERVICE_REPORTS, 'followups.txt'), lines.join('\n') + '\n');
  }
  assert.ok(conversations.length >= 40, `only ${conversations.length} conversations`);
  assert.ok(share >= floor, `resolved ${resolved}/${conversations.length}, below the floor ${floor}:\n${lines.join('\n')}`);
});
