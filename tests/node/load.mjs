// Direct Line load run: N concurrent conversations over WebSocket against a running service, each sending messages
// and checking that every message gets its reply on the socket. Prints message→reply p50/p99 and lost replies.
// Usage (tests/node/load.sh starts the service): node load.mjs BASE_URL SECRET [conversations=500] [messages=5]
// First a warm-up (20 conversations, 2 messages each, not counted: the service's first requests compile code).
// Then all conversations are started with the secret and their streamUrls opened, so that all are connected at once;
// then each sends `messages` questions, one after the reply to the previous one plus a think time of 0.5–1.5 s (a
// person typing), the first at a random moment in the first second.
// Latency = from just before the POST to the moment the reply's frame is read from the socket.
import { createRequire } from 'node:module';
import http from 'node:http';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');

const [base, secret, conversationsArg, messagesArg] = process.argv.slice(2);
if (!base || !secret) {
  console.error('usage: node load.mjs BASE_URL SECRET [conversations] [messages]');
  process.exit(2);
}

const conversations = Number(conversationsArg ?? 500);
const messagesEach = Number(messagesArg ?? 5);
const replyTimeoutMs = 10000;
const questions = [
  'how much is an infusion',
  'how long does an infusion take',
  'is ketamine covered by insurance',
  'what is ketamine assisted psychotherapy',
  'how quickly does ketamine work for ptsd',
];
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });

/** POST over a pooled keep-alive connection; resolves {status, body}. */
function post(url, headers, body) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', agent, headers: { ...headers, 'Content-Length': Buffer.byteLength(body ?? '') } }, response => {
      const chunks = [];
      response.on('data', c => chunks.push(c));
      response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    request.end(body ?? '');
  });
}

const sleep = ms => new Promise(r => setTimeout(r, ms));
const latencies = [];
let lost = 0;
let badReplies = 0;
let httpErrors = 0;

async function start() {
  const response = await post(`${base}/v3/directline/conversations`, { Authorization: `Bearer ${secret}` });
  if (response.status !== 201) {
    throw new Error(`start: ${response.status}`);
  }
  return JSON.parse(response.body);
}

async function openConversation(index) {
  const { conversationId, token, streamUrl } = await start();
  const pending = new Map(); // clientActivityID -> { started, resolve }
  const byId = new Map(); // echo id -> clientActivityID
  const ws = new WebSocket(streamUrl);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.on('message', data => {
    const text = data.toString();
    if (!text) {
      return; // keep-alive
    }
    for (const activity of JSON.parse(text).activities) {
      const client = activity.channelData?.clientActivityID;
      if (client && pending.has(client)) {
        byId.set(activity.id, client);
      } else if (activity.replyToId && byId.has(activity.replyToId)) {
        const key = byId.get(activity.replyToId);
        const waiting = pending.get(key);
        if (waiting) {
          pending.delete(key);
          waiting.resolve(activity);
        }
      }
    }
  });

  return { index, conversationId, token, ws, pending };
}

async function talk({ index, conversationId, token, ws, pending }, messages, record) {
  await sleep(Math.random() * 1000);
  for (let m = 0; m < messages; m++) {
    const clientActivityID = `${index}-${m}`;
    const started = performance.now();
    const replied = new Promise(resolve => pending.set(clientActivityID, { resolve }));
    const response = await post(`${base}/v3/directline/conversations/${conversationId}/activities`,
      { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      JSON.stringify({ type: 'message', from: { id: 'load' }, text: questions[(index + m) % questions.length], channelData: { clientActivityID } }));
    if (response.status !== 200) {
      httpErrors++;
    }
    const reply = await Promise.race([replied, sleep(replyTimeoutMs).then(() => null)]);
    if (!record) {
      // warm-up: not counted
    } else if (!reply) {
      lost++;
      pending.delete(clientActivityID);
    } else {
      latencies.push(performance.now() - started);
      if (typeof reply.text !== 'string' || reply.text.length === 0) {
        badReplies++;
      }
    }
    await sleep(500 + Math.random() * 1000);
  }
  ws.close();
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const warm = await Promise.all(Array.from({ length: 20 }, (_, i) => openConversation(100000 + i)));
await Promise.all(warm.map(c => talk(c, 2, false)));

const opening = performance.now();
const results = await Promise.allSettled(Array.from({ length: conversations }, (_, i) => openConversation(i)));
const failed = results.filter(r => r.status === 'rejected');
const opened = results.filter(r => r.status === 'fulfilled').map(r => r.value);
console.log(`opened ${opened.length} conversations (start + WebSocket) in ${((performance.now() - opening) / 1000).toFixed(1)} s`);
const began = performance.now();
await Promise.all(opened.map(c => talk(c, messagesEach, true)));
const seconds = (performance.now() - began) / 1000;
latencies.sort((a, b) => a - b);
const sent = conversations * messagesEach - failed.length * messagesEach;
console.log(`conversations: ${conversations} concurrent (${failed.length} failed to start${failed.length ? ': ' + failed[0].reason : ''}), messages each: ${messagesEach}`);
console.log(`messages: ${sent} sent, ${latencies.length} replied, ${lost} lost (no reply within ${replyTimeoutMs} ms), ${badReplies} empty replies, ${httpErrors} HTTP errors, in ${seconds.toFixed(1)} s`);
if (latencies.length > 0) {
  console.log(`message→reply: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies.at(-1).toFixed(1)} ms`);
}
process.exit(lost === 0 && failed.length === 0 && httpErrors === 0 && badReplies === 0 ? 0 : 1);
