// Direct Line load run: N concurrent conversations over WebSocket against a running service, each sending messages
// and checking that every message gets its reply on the socket. Prints message→reply p50/p99 and lost replies.
// Usage (tests/node/load.sh starts the service): node load.mjs BASE_URL SECRET [conversations=500] [messages=5]
// First a warm-up, not counted: a fifth of the run (LOAD_WARMUP conversations, default conversations / 5, the same
// 5 messages each, the same pacing), then a 2 s pause. A service in production is warm; one just started compiles its
// request path twice over (quick code first, optimised code once a method has run often), and with a warm-up of 40
// messages that second compilation fell inside the measured run: ~10,000 methods, ~2.5 s of the service's CPU.
// Then all conversations are started with the secret and their streamUrls opened, so that all are connected at once;
// then each sends `messages` questions, one after the reply to the previous one plus a think time of 0.5–1.5 s (a
// person typing), the first at a random moment in the first second.
// Latency = from just before the POST to the moment the reply's frame is read from the socket. Also printed, to see
// where a slow reply spent its time: the POST's answer (the message committed) and the echo's frame, the slowest
// replies with their moment in the run, and what the service's /metrics say changed over the measured run
// (transcript commits, GC, JIT, thread pool).
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
const acks = []; // POST -> its 200 (the message committed)
const echoes = []; // POST -> the message's own frame on the socket
const samples = [];
let began = 0;
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
  const pending = new Map(); // clientActivityID -> { resolve, echoed }
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
        pending.get(client).echoed = performance.now();
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
    const waiting = {};
    const replied = new Promise(resolve => pending.set(clientActivityID, Object.assign(waiting, { resolve })));
    const response = await post(`${base}/v3/directline/conversations/${conversationId}/activities`,
      { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      JSON.stringify({ type: 'message', from: { id: 'load' }, text: questions[(index + m) % questions.length], channelData: { clientActivityID } }));
    if (response.status !== 200) {
      httpErrors++;
    }
    const acknowledged = performance.now();
    const reply = await Promise.race([replied, sleep(replyTimeoutMs).then(() => null)]);
    if (!record) {
      // warm-up: not counted
    } else if (!reply) {
      lost++;
      pending.delete(clientActivityID);
    } else {
      const now = performance.now();
      latencies.push(now - started);
      acks.push(acknowledged - started);
      if (waiting.echoed !== undefined) {
        echoes.push(waiting.echoed - started);
      }
      samples.push({ at: (started - began) / 1000, total: now - started, ack: acknowledged - started, echo: waiting.echoed === undefined ? NaN : waiting.echoed - started });
      if (typeof reply.text !== 'string' || reply.text.length === 0) {
        badReplies++;
      }
    }
    await sleep(500 + Math.random() * 1000);
  }
  ws.close();
}

/** The service's /metrics (loopback may read them) as name -> value, summed over labels except those kept. */
async function metrics() {
  try {
    const response = await fetch(`${base}/metrics`);
    const values = new Map();
    for (const line of (await response.text()).split('\n')) {
      const m = /^([a-z_]+)(?:\{([^}]*)\})? ([0-9.eE+-]+)$/.exec(line);
      if (!m) {
        continue;
      }
      const labels = m[2] ?? '';
      const le = /le="([^"]+)"/.exec(labels);
      const gen = /gc_heap_generation="([^"]+)"/.exec(labels);
      const key = le ? `${m[1]}{le="${le[1]}"}` : gen ? `${m[1]}{${gen[1]}}` : m[1];
      values.set(key, (values.get(key) ?? 0) + Number(m[3]));
    }
    return values;
  } catch {
    return null;
  }
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const warmUp = Number(process.env.LOAD_WARMUP ?? Math.ceil(conversations / 5));
const warm = await Promise.all(Array.from({ length: warmUp }, (_, i) => openConversation(100000 + i)));
await Promise.all(warm.map(c => talk(c, messagesEach, false)));
await sleep(2000);

const metricsBefore = await metrics();
const opening = performance.now();
const results = await Promise.allSettled(Array.from({ length: conversations }, (_, i) => openConversation(i)));
const failed = results.filter(r => r.status === 'rejected');
const opened = results.filter(r => r.status === 'fulfilled').map(r => r.value);
console.log(`opened ${opened.length} conversations (start + WebSocket) in ${((performance.now() - opening) / 1000).toFixed(1)} s`);
began = performance.now();
await Promise.all(opened.map(c => talk(c, messagesEach, true)));
const seconds = (performance.now() - began) / 1000;
const metricsAfter = await metrics();
latencies.sort((a, b) => a - b);
acks.sort((a, b) => a - b);
echoes.sort((a, b) => a - b);
const sent = conversations * messagesEach - failed.length * messagesEach;
console.log(`conversations: ${conversations} concurrent (${failed.length} failed to start${failed.length ? ': ' + failed[0].reason : ''}), messages each: ${messagesEach}`);
console.log(`messages: ${sent} sent, ${latencies.length} replied, ${lost} lost (no reply within ${replyTimeoutMs} ms), ${badReplies} empty replies, ${httpErrors} HTTP errors, in ${seconds.toFixed(1)} s`);
if (latencies.length > 0) {
  console.log(`message→reply: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies.at(-1).toFixed(1)} ms`);
  console.log(`  POST→200 (message committed): p50 ${percentile(acks, 50).toFixed(1)} ms, p99 ${percentile(acks, 99).toFixed(1)} ms; ` +
    `POST→echo frame: p50 ${percentile(echoes, 50).toFixed(1)} ms, p99 ${percentile(echoes, 99).toFixed(1)} ms`);
  const slowest = samples.sort((a, b) => b.total - a.total).slice(0, 8)
    .map(s => `${s.total.toFixed(0)} ms at ${s.at.toFixed(1)} s (200 ${s.ack.toFixed(0)}, echo ${s.echo.toFixed(0)})`);
  console.log(`  slowest: ${slowest.join('; ')}`);
}
if (metricsBefore && metricsAfter) {
  const d = name => (metricsAfter.get(name) ?? 0) - (metricsBefore.get(name) ?? 0);
  const commits = d('bot_transcript_commit_duration_seconds_count');
  const slowCommits = commits - d('bot_transcript_commit_duration_seconds_bucket{le="0.025"}');
  console.log(`service over the measured run: CPU ${(d('dotnet_process_cpu_time_seconds_total') * 1000).toFixed(0)} ms; ` +
    `${commits} transcript commits (mean ${(d('bot_transcript_commit_duration_seconds_sum') / commits * 1000).toFixed(1)} ms, ` +
    `${slowCommits} over 25 ms, ${commits - d('bot_transcript_commit_duration_seconds_bucket{le="0.05"}')} over 50 ms; ` +
    `${(d('bot_transcript_commit_size_sum') / commits).toFixed(1)} activities each); ` +
    `GC: ${d('dotnet_gc_collections_total{gen0}')}/${d('dotnet_gc_collections_total{gen1}')}/${d('dotnet_gc_collections_total{gen2}')} (gen0/1/2), ` +
    `${(d('dotnet_gc_pause_time_seconds_total') * 1000).toFixed(0)} ms paused, ${(d('dotnet_gc_heap_total_allocated_bytes_total') / 1048576).toFixed(0)} MB allocated; ` +
    `JIT: ${d('dotnet_jit_compiled_methods_total')} methods, ${(d('dotnet_jit_compilation_time_seconds_total') * 1000).toFixed(0)} ms; ` +
    `thread pool: ${metricsAfter.get('dotnet_thread_pool_thread_count_total')} threads, ${d('dotnet_thread_pool_work_item_count_total')} work items; ` +
    `lock contentions ${d('dotnet_monitor_lock_contentions_total')}; exceptions ${d('dotnet_exceptions_total')}`);
}
process.exit(lost === 0 && failed.length === 0 && httpErrors === 0 && badReplies === 0 ? 0 : 1);
