// The official botframework-directlinejs client against our Direct Line 3.0 endpoint, over real loopback HTTP and
// WebSocket. Started by tests/BotService.IntegrationTests/DirectLineClientTests.cs (one xUnit test per test here,
// selected with --test-name-pattern), which runs the real service and passes:
//   DL_BASE          http://127.0.0.1:PORT (the service)
//   DL_SHORT_TOKEN   a token for a fresh conversation that expires a few seconds after it was minted
// Node has neither XMLHttpRequest nor WebSocket; directlinejs needs both (shared/feasibility.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { until } from './until.mjs';

const require = createRequire(import.meta.url);
globalThis.XMLHttpRequest = require('xhr2');
const WebSocket = require('ws');
globalThis.WebSocket = WebSocket;
const { DirectLine, ConnectionStatus } = require('botframework-directlinejs');

const base = process.env.DL_BASE ?? 'http://127.0.0.1:3978';
const domain = `${base}/v3/directline`;
const crisisStart = 'If you are in immediate danger, call 911';

/** Claims of a JWT (directlinejs and Web Chat read `user` the same way, without verifying). */
const claims = token => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));

/** A token from the page's endpoint, as the website gets it. */
async function webchatToken() {
  const response = await fetch(`${base}/api/webchat/token`, { method: 'POST' });
  assert.equal(response.status, 200);
  return response.json();
}

/** Every WebSocket directlinejs opens, so a test can drop one. */
function trackedWebSocket() {
  const sockets = [];
  class Tracked extends WebSocket {
    constructor(url) {
      super(url);
      sockets.push(this);
    }
  }
  return { sockets, Tracked };
}

/** A directlinejs client with everything it receives collected in order. */
function connect(options) {
  const directLine = new DirectLine({ domain, random: () => 0, ...options }); // random 0: reconnect after 3 s, not 3-15 s
  const received = [];
  const statuses = [];
  const subscriptions = [
    directLine.activity$.subscribe(a => received.push(a), () => {}),
    directLine.connectionStatus$.subscribe(s => statuses.push(s)),
  ];
  const close = () => {
    subscriptions.forEach(s => s.unsubscribe());
    directLine.end();
  };
  return { directLine, received, statuses, close };
}

function post(directLine, activity) {
  return new Promise((resolve, reject) => directLine.postActivity(activity).subscribe(resolve, reject));
}

const message = (text, clientActivityID) => ({
  type: 'message',
  from: { id: 'someone-else', name: 'Visitor' }, // the server stamps the token's user instead
  text,
  channelData: { clientActivityID },
});

/** Posts and waits for the echo (with id and clientActivityID) and the bot's first reply to it. */
async function ask(client, text) {
  const clientActivityID = `c-${Math.random().toString(36).slice(2)}`;
  const id = await post(client.directLine, message(text, clientActivityID));
  assert.equal(typeof id, 'string');
  assert.notEqual(id, 'retry');
  const echo = await until('the echo', () => client.received.find(a => a.id === id));
  assert.equal(echo.channelData?.clientActivityID, clientActivityID);
  const reply = await until('the reply', () => client.received.find(a => a.replyToId === id && a.from?.role === 'bot'));
  return { id, echo, reply };
}

function assertInOrderWithoutDuplicates(received) {
  const ids = received.filter(a => a.id).map(a => a.id);
  assert.equal(new Set(ids).size, ids.length, `duplicate activities: ${ids.join(', ')}`);
  const seqs = ids.map(id => Number(id.split('|').pop()));
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'activities out of order');
}

/** The transcript's own list (the polling GET from the start): what every client of the conversation must see, in this order. */
async function transcriptIds(token, conversationId) {
  const response = await fetch(`${domain}/conversations/${conversationId}/activities?watermark=`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  return (await response.json()).activities.map(a => a.id);
}

test('a message posted the instant the conversation starts arrives in watermark order, 300 times', async () => {
  // Nobody waits for the welcome here: the welcome turn (conversationUpdate) and the first message's turn run side by
  // side, and every activity must still reach directlinejs in the transcript's order, once, with none missing. The
  // overlap went wrong in about one round in fifty to a hundred before the fix.
  for (let round = 0; round < 300; round++) {
    const { token, conversationId } = await webchatToken();
    const client = connect({ token, webSocket: true });
    try {
      const id = await post(client.directLine, message('how much is an infusion', `instant-${round}`));
      assert.notEqual(id, 'retry');
      await until('the welcome, the echo and the reply', () =>
        client.received.some(a => a.type === 'message' && a.from?.role === 'bot' && a.replyToId !== id)
        && client.received.some(a => a.id === id)
        && client.received.some(a => a.replyToId === id && a.from?.role === 'bot'));
      const received = client.received.filter(a => a.id).map(a => a.id);
      assert.deepEqual(received, await transcriptIds(token, conversationId), `round ${round}: the socket's order is not the transcript's`);
      assertInOrderWithoutDuplicates(client.received);
    } finally {
      client.close();
    }
  }
});

test('websocket start post receive', async () => {
  const { token, userId } = await webchatToken();
  const client = connect({ token, webSocket: true });
  try {
    const { echo, reply } = await ask(client, 'how much is an infusion');
    assert.equal(echo.from.id, userId);
    assert.equal(claims(token).user, userId);
    assert.equal(echo.channelId, 'directline');
    assert.match(reply.text, /\$275/);
    assert.equal(client.statuses.at(-1), ConnectionStatus.Online);
    assert.ok(!client.received.some(a => a.type === 'conversationUpdate'), 'conversationUpdate reached the client');
    assertInOrderWithoutDuplicates(client.received);
  } finally {
    client.close();
  }
});

test('polling start post receive', async () => {
  const { token, userId } = await webchatToken();
  const client = connect({ token, webSocket: false, pollingInterval: 200 });
  try {
    const { echo, reply } = await ask(client, 'how much is an infusion');
    assert.equal(echo.from.id, userId);
    assert.match(reply.text, /\$275/);
    const second = await ask(client, 'how long does an infusion take');
    assert.ok(second.reply.text.length > 0);
    assertInOrderWithoutDuplicates(client.received);
  } finally {
    client.close();
  }
});

test('websocket reconnect after drop resumes after the watermark', async () => {
  const { token } = await webchatToken();
  const { sockets, Tracked } = trackedWebSocket();
  const client = connect({ token, webSocket: true, WebSocket: Tracked });
  try {
    await ask(client, 'how much is an infusion');
    assert.equal(sockets.length, 1);

    // Drop the socket (no close handshake), then ask while it is down: the reply is stored, not pushed.
    sockets[0].terminate();
    const whileDown = await post(client.directLine, message('how long does an infusion take', 'while-down'));
    assert.notEqual(whileDown, 'retry');

    // directlinejs reconnects by itself (GET conversations/{id}?watermark=…, a new streamUrl) and is replayed the gap.
    await until('a second socket', () => sockets.length === 2, 10000);
    assert.match(sockets[1].url, /[?&]watermark=\d+/);
    await until('the echo after reconnect', () => client.received.find(a => a.id === whileDown));
    await until('the reply after reconnect', () => client.received.find(a => a.replyToId === whileDown));
    await ask(client, 'is ketamine covered by insurance');
    assertInOrderWithoutDuplicates(client.received);
  } finally {
    client.close();
  }
});

test('token refresh gives a new token for the same user and conversation', async () => {
  const { token, userId, conversationId } = await webchatToken();
  const client = connect({ token, webSocket: true });
  try {
    await ask(client, 'how much is an infusion');
    await new Promise(r => setTimeout(r, 1100)); // a later exp
    const refreshed = await new Promise((resolve, reject) => client.directLine.refreshToken().subscribe(resolve, reject));
    assert.notEqual(refreshed, token);
    assert.equal(claims(refreshed).user, userId);
    assert.equal(claims(refreshed).conv, conversationId);
    assert.ok(claims(refreshed).exp > claims(token).exp);
    client.directLine.token = refreshed; // what directlinejs's own refresh loop does with it
    const { reply } = await ask(client, 'how long does an infusion take');
    assert.ok(reply.text.length > 0);
  } finally {
    client.close();
  }
});

test('expired token gives ExpiredToken', async () => {
  const token = process.env.DL_SHORT_TOKEN;
  assert.ok(token, 'DL_SHORT_TOKEN is not set');
  const client = connect({ token, webSocket: true });
  try {
    await ask(client, 'how much is an infusion');
    const wait = claims(token).exp * 1000 - Date.now() + 300;
    await new Promise(r => setTimeout(r, Math.max(0, wait)));
    const result = await post(client.directLine, message('how long does an infusion take', 'after-expiry')).catch(e => e);
    assert.equal(result, 'retry'); // directlinejs's answer to a 403 on post
    await until('ExpiredToken', () => client.statuses.includes(ConnectionStatus.ExpiredToken));
  } finally {
    client.close();
  }
});

test('emergency gets the crisis reply first', async () => {
  const { token } = await webchatToken();
  const client = connect({ token, webSocket: true });
  try {
    const started = Date.now();
    const { reply } = await ask(client, 'I want to end my life');
    assert.ok(reply.text.startsWith(crisisStart), 'the first reply is not the crisis wording');
    assert.ok(Date.now() - started < 1000, 'the crisis reply took a second or more');
  } finally {
    client.close();
  }
});

test('reload resumes the history with the same ids', async () => {
  const { token, conversationId } = await webchatToken();
  const first = connect({ token, webSocket: true });
  let seen;
  try {
    await ask(first, 'how much is an infusion');
    seen = first.received.map(a => a.id);
  } finally {
    first.close();
  }

  // The page after a reload: the conversation id and token from sessionStorage, no watermark.
  const again = connect({ token, conversationId, webSocket: true });
  try {
    await until('the history', () => again.received.length >= seen.length);
    assert.deepEqual(again.received.map(a => a.id).slice(0, seen.length), seen);
    await ask(again, 'how long does an infusion take');
    assertInOrderWithoutDuplicates(again.received);
  } finally {
    again.close();
  }
});
