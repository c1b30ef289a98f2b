// Soak and fault run (issue 9, part 5): starts the service (Release, published by soak.sh) as one or more processes,
// drives mixed traffic at them for a bounded time, injects a fault if asked, then counts what the database stored
// against what the clients were told was accepted. Started by tests/load/soak.sh, which publishes the build, starts a
// throwaway PostgreSQL server when asked and passes everything here as flags; see soak.sh for the usage.
//
// Traffic, spread over the instances (a conversation stays on the instance it started on):
//  - Direct Line visitors (plain HTTP + the `ws` WebSocket, as tests/node/load.mjs): each starts a conversation with
//    the Direct Line secret, opens its streamUrl, posts a few questions (one in `emergencyEvery` an emergency), each
//    after the reply to the previous one plus a think time, then ends and a new visitor takes its place.
//    Acknowledged = 200 with an `id`. A dropped socket is reopened after the last watermark seen (as directlinejs does).
//  - /api/messages callers: message Activities with deliveryMode expectReplies in anonymous mode (no MicrosoftAppId,
//    as tests/load/messages-wrk.sh), a few per conversation. Acknowledged = 200 with a reply activity.
// At the end (after the load stops and the escalation outbox has drained) the transcript (`messages`) and
// `escalations` tables are read with sqlite3 or psql while the service is still running, and every acknowledged
// message must be there: lost = acknowledged but not stored. Escalations: every acknowledged emergency must have its
// escalation row (key channel:conversation:message id). Requests that failed (refused connections while an instance
// is down, 5xx) were never acknowledged and are counted as errors by kind, not as lost.
import { createRequire } from 'node:module';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const execFileP = promisify(execFile);
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const require = createRequire(path.join(repo, 'tests/node/package.json'));
const WebSocket = require('ws');

// ---------------------------------------------------------------------------------------------------------- options
const args = Object.fromEntries(process.argv.slice(2).map(a => {
  const m = /^--([^=]+)=(.*)$/s.exec(a);
  if (!m) {
    console.error(`soak.mjs: unknown argument ${a}`);
    process.exit(2);
  }
  return [m[1], m[2]];
}));
const opt = (name, fallback) => args[name] ?? fallback;
const num = (name, fallback) => Number(opt(name, fallback));

const duration = num('duration', 600);             // seconds of load
const dll = opt('dll');                             // the published BotService.dll
const work = opt('work');                           // scratch folder (data folders, logs)
const provider = opt('provider', 'sqlite');         // sqlite | postgresql
const pgConnection = opt('pg-connection', '');      // Npgsql connection string of the throwaway server (admin)
const pgState = opt('pg-state', '');                // tests/postgres.sh state file (for the restart fault)
const ports = opt('ports', '0').split(',').map(Number);
const fault = opt('fault', 'none');                 // none | kill | pg-restart
const faults = num('faults', 1);                    // how many, evenly spread over the run
const downSeconds = num('down', 3);                 // kill: how long the instance stays down; pg-restart: 0 = pg_ctl restart
const dlVisitors = num('dl-visitors', 24);          // concurrent Direct Line visitors
const apiCallers = num('api-callers', 6);           // concurrent /api/messages callers
const messagesEach = num('messages', 5);            // messages per conversation
const emergencyEvery = num('emergency-every', 20);  // one message in N is an emergency
const thinkMs = [num('think-min', 500), num('think-max', 1500)];
const replyTimeoutMs = num('reply-timeout', 15000);
const serviceArgs = (opt('service-args', '') || '').split(' ').filter(Boolean);
// As a deployment does (docs/operations.md): `BotService.dll migrate` before the instances start. --migrate=start
// leaves it to the instances (each then migrates its new database itself and keeps EF Core's model resident).
const migrateStep = opt('migrate', 'step') !== 'start';
if (!dll || !work) {
  console.error('soak.mjs: --dll and --work are required (run tests/load/soak.sh)');
  process.exit(2);
}
if (provider === 'sqlite' && ports.length > 1) {
  console.error('soak.mjs: several instances need --provider=postgresql (each SQLite instance would have its own database)');
  process.exit(2);
}

const questions = [
  'how much is an infusion',
  'how long does an infusion take',
  'is ketamine covered by insurance',
  'what is ketamine assisted psychotherapy',
  'how quickly does ketamine work for ptsd',
  'what are the side effects of ketamine',
];
const emergencies = [
  'I want to kill myself tonight',
  'i am going to kill myself tonight, i have the pills here',
];
const sleep = ms => new Promise(r => setTimeout(r, ms));
const think = () => sleep(thinkMs[0] + Math.random() * (thinkMs[1] - thinkMs[0]));
const secret = opt('secret');
const signingKey = opt('signing-key');
const dbName = opt('db-name', `soak_${Date.now()}`);

// -------------------------------------------------------------------------------------------------------- instances
function freePort() {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function rssMb(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = n => Number((new RegExp(`^${n}:\\s+(\\d+)`, 'm').exec(status) ?? [])[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

class Instance {
  constructor(index, port) {
    this.index = index;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.data = path.join(work, `data-${index}`);
    this.log = path.join(work, `instance-${index}.log`);
    this.starts = 0;
    this.process = null;
    this.rssSamples = [];
  }

  argv() {
    const a = [dll, '--urls', this.url, `--Data:Path=${this.data}`, `--DirectLine:Secret=${secret}`,
      `--DirectLine:SigningKey=${signingKey}`, '--Logging:LogLevel:Default=Warning'];
    if (provider === 'postgresql') {
      const conn = pgConnection.replace(/Database=[^;]*/i, `Database=${dbName}`);
      a.push('--Storage:Provider=PostgreSQL', `--ConnectionStrings:BotService=${conn}`);
    }
    return [...a, ...serviceArgs];
  }

  /** The deployment's migration step (`BotService.dll migrate`), so the instance starts on an up-to-date database. */
  async migrate() {
    const [dllPath, ...rest] = this.argv();
    const out = fs.openSync(this.log, 'a');
    fs.writeSync(out, `\n=== migrate at ${new Date().toISOString()}\n`);
    const child = spawn('dotnet', [dllPath, 'migrate', ...rest], { cwd: repo, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const code = await new Promise(resolve => child.once('exit', resolve));
    if (code !== 0) {
      throw new Error(`migrate for instance ${this.index} exited with ${code}; see ${this.log}`);
    }
  }

  async start() {
    const out = fs.openSync(this.log, 'a');
    fs.writeSync(out, `\n=== start ${++this.starts} at ${new Date().toISOString()}\n`);
    // From the repo root, as `dotnet run` would: appsettings.json and knowledge/ are found there. Anonymous mode.
    const env = { ...process.env };
    delete env.MicrosoftAppId;
    delete env.MicrosoftAppPassword;
    delete env.MicrosoftAppTenantId;
    this.process = spawn('dotnet', this.argv(), { cwd: repo, env, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    this.pid = this.process.pid;
    const exited = new Promise(resolve => this.process.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited = exited;
    const began = Date.now();
    while (Date.now() - began < 120000) {
      const done = await Promise.race([exited, sleep(200).then(() => null)]);
      if (done) {
        throw new Error(`instance ${this.index} exited during start (${JSON.stringify(done)}); see ${this.log}`);
      }
      const status = await getStatus(`${this.url}/healthz/ready`);
      if (status === 200) {
        this.readyAfterMs = Date.now() - began;
        return;
      }
    }
    throw new Error(`instance ${this.index} not ready within 120 s; see ${this.log}`);
  }

  kill9() {
    process.kill(this.pid, 'SIGKILL');
    return this.exited;
  }

  async stop() {
    if (this.process && this.process.exitCode === null && this.process.signalCode === null) {
      process.kill(this.pid, 'SIGTERM');
      await Promise.race([this.exited, sleep(30000)]);
      if (this.process.exitCode === null && this.process.signalCode === null) {
        process.kill(this.pid, 'SIGKILL');
      }
    }
  }

  sample() {
    const m = rssMb(this.pid);
    if (!Number.isNaN(m.rss)) {
      this.rssSamples.push(m.rss);
    }
    return m;
  }
}

// ------------------------------------------------------------------------------------------------------------- HTTP
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function request(url, { method = 'POST', headers = {}, body, timeoutMs = 30000 } = {}) {
  return new Promise(resolve => {
    const req = http.request(url, {
      method, agent, timeout: timeoutMs,
      headers: body === undefined ? headers : { ...headers, 'Content-Length': Buffer.byteLength(body) },
    }, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', e => resolve({ status: 0, error: e.code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', e => resolve({ status: 0, error: e.code ?? e.message }));
    req.end(body);
  });
}

async function getStatus(url) {
  const r = await request(url, { method: 'GET', timeoutMs: 2000 });
  return r.status;
}

// --------------------------------------------------------------------------------------------------------- counting
const counts = {
  dl: { conversations: 0, startFailed: 0, sent: 0, acked: 0, emergencies: 0, emergenciesAcked: 0, replied: 0, noReply: 0, reconnects: 0 },
  api: { conversations: 0, sent: 0, acked: 0, emergencies: 0, emergenciesAcked: 0 },
};
const errors = new Map(); // kind -> count
const error = kind => errors.set(kind, (errors.get(kind) ?? 0) + 1);
const ackedDl = [];   // { conversationId, id, emergency }
const ackedApi = [];  // { conversationId, id, emergency, channel }
const repliesSeen = new Set(); // Direct Line reply ids a client received (conversationId|seq)
const noReply = []; // acknowledged Direct Line messages whose reply the client did not see: { conversationId, id }
const latency = { dl: [], api: [] };
let stopping = false;
const down = new Set(); // instances a fault has taken down (their clients' errors are expected)

function classify(where, r) {
  if (r.status === 0) {
    error(`${where}: ${r.error}`);
  } else {
    error(`${where}: HTTP ${r.status}`);
  }
}

// ----------------------------------------------------------------------------------------------- Direct Line visitor
async function directLineVisitor(instances, slot) {
  let n = 0;
  while (!stopping) {
    const instance = instances[(slot + n++) % instances.length];
    await directLineConversation(instance, `${slot}-${n}`);
  }
}

async function directLineConversation(instance, tag) {
  const started = await request(`${instance.url}/v3/directline/conversations`, { headers: { Authorization: `Bearer ${secret}` } });
  if (started.status !== 201) {
    counts.dl.startFailed++;
    classify('dl start', started);
    await sleep(1000);
    return;
  }
  counts.dl.conversations++;
  const { conversationId, token, streamUrl } = JSON.parse(started.body);
  const state = { watermark: null, pending: new Map(), byId: new Map(), ws: null, closed: false };

  const onFrame = data => {
    const text = data.toString();
    if (!text) {
      return; // keep-alive
    }
    const frame = JSON.parse(text);
    if (frame.watermark) {
      state.watermark = frame.watermark;
    }
    for (const activity of frame.activities ?? []) {
      if (activity.from?.role !== 'user' && activity.id && activity.type === 'message') {
        repliesSeen.add(activity.id);
      }
      const client = activity.channelData?.clientActivityID;
      if (client && state.pending.has(client)) {
        state.byId.set(activity.id, client);
      } else if (activity.replyToId && state.byId.has(activity.replyToId)) {
        const waiting = state.pending.get(state.byId.get(activity.replyToId));
        if (waiting) {
          state.pending.delete(state.byId.get(activity.replyToId));
          waiting(activity);
        }
      }
    }
  };

  const connect = url => new Promise(resolve => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      state.ws = ws;
      resolve(true);
    });
    ws.once('error', e => {
      error(`dl socket: ${e.code ?? e.message}`);
      resolve(false);
    });
    ws.on('message', onFrame);
    ws.on('close', () => {
      if (state.ws === ws) {
        state.ws = null;
      }
    });
  });

  // Reopens the stream after the last watermark seen (GET conversations/{id}?watermark=), as directlinejs does.
  const reconnect = async () => {
    const began = Date.now();
    while (!state.closed && Date.now() - began < 60000) {
      counts.dl.reconnects++;
      const q = state.watermark ? `?watermark=${encodeURIComponent(state.watermark)}` : '';
      const r = await request(`${instance.url}/v3/directline/conversations/${encodeURIComponent(conversationId)}${q}`,
        { method: 'GET', headers: { Authorization: `Bearer ${token}` } });
      if (r.status === 200 && await connect(JSON.parse(r.body).streamUrl)) {
        return true;
      }
      if (r.status !== 200) {
        classify('dl reconnect', r);
      }
      await sleep(500);
    }
    return false;
  };

  if (!await connect(streamUrl) && !await reconnect()) {
    return;
  }

  for (let m = 0; m < messagesEach && !stopping; m++) {
    if (!state.ws && !await reconnect()) {
      break;
    }
    const emergency = Math.random() * emergencyEvery < 1;
    const clientActivityID = `${tag}-${m}`;
    const text = emergency ? emergencies[m % emergencies.length] : questions[(m + tag.length) % questions.length];
    const t0 = performance.now();
    const replied = new Promise(resolve => state.pending.set(clientActivityID, resolve));
    counts.dl.sent++;
    if (emergency) {
      counts.dl.emergencies++;
    }
    const r = await request(`${instance.url}/v3/directline/conversations/${encodeURIComponent(conversationId)}/activities`, {
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'message', from: { id: 'soak' }, text, channelData: { clientActivityID } }),
    });
    let id = null;
    if (r.status === 200) {
      try {
        id = JSON.parse(r.body).id;
      } catch {
        id = null;
      }
    }
    if (!id) {
      state.pending.delete(clientActivityID);
      classify('dl post', r.status === 200 ? { status: '200 without an id' } : r);
      await sleep(500);
      continue;
    }
    counts.dl.acked++;
    if (emergency) {
      counts.dl.emergenciesAcked++;
    }
    ackedDl.push({ conversationId, id, emergency });
    // The echo carries our clientActivityID; if the socket dropped, the replay after reconnecting brings it.
    state.byId.set(id, clientActivityID);
    let reply = await Promise.race([replied, sleep(replyTimeoutMs).then(() => null)]);
    if (!reply && !state.ws && await reconnect()) {
      reply = await Promise.race([replied, sleep(replyTimeoutMs).then(() => null)]);
    }
    if (reply) {
      counts.dl.replied++;
      latency.dl.push(performance.now() - t0);
    } else {
      counts.dl.noReply++;
      noReply.push({ conversationId, id, watermark: state.watermark, socketOpen: Boolean(state.ws) });
      error(down.size ? 'dl reply: none within the timeout (an instance was down)' : 'dl reply: none within the timeout');
      state.pending.delete(clientActivityID);
    }
    await think();
  }
  state.closed = true;
  state.ws?.close();
}

// -------------------------------------------------------------------------------------------- /api/messages caller
async function apiCaller(instances, slot) {
  let n = 0;
  while (!stopping) {
    const instance = instances[(slot + n) % instances.length];
    const conversationId = `soak-api-${process.pid}-${slot}-${n++}`;
    counts.api.conversations++;
    for (let m = 0; m < messagesEach && !stopping; m++) {
      const emergency = Math.random() * emergencyEvery < 1;
      const id = `${conversationId}-m${m}`;
      const text = emergency ? emergencies[m % emergencies.length] : questions[(n + m) % questions.length];
      const activity = {
        type: 'message', id, timestamp: new Date().toISOString(), channelId: 'emulator', serviceUrl: 'http://127.0.0.1:9/',
        from: { id: `user-${conversationId}`, role: 'user' }, recipient: { id: 'clinic-bot', role: 'bot' },
        conversation: { id: conversationId }, text, deliveryMode: 'expectReplies',
      };
      counts.api.sent++;
      if (emergency) {
        counts.api.emergencies++;
      }
      const t0 = performance.now();
      const r = await request(`${instance.url}/api/messages`, { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(activity) });
      let ok = false;
      if (r.status === 200) {
        try {
          const replies = JSON.parse(r.body).activities ?? [];
          ok = replies.some(a => a.type === 'message' && typeof a.text === 'string' && a.text.length > 0);
          if (ok && emergency && !replies.some(a => /988/.test(a.text ?? ''))) {
            error('api: emergency answered without the crisis reply');
          }
        } catch {
          ok = false;
        }
      }
      if (!ok) {
        classify('api', r.status === 200 ? { status: '200 without a reply' } : r);
        await sleep(500);
        continue;
      }
      latency.api.push(performance.now() - t0);
      counts.api.acked++;
      if (emergency) {
        counts.api.emergenciesAcked++;
      }
      ackedApi.push({ conversationId, id, emergency });
      await think();
    }
  }
}

// ----------------------------------------------------------------------------------------------------- the database
async function query(sql) {
  if (provider === 'sqlite') {
    const db = path.join(work, 'data-0', 'botservice.db');
    const { stdout } = await execFileP('sqlite3', ['-separator', '\t', db, sql], { maxBuffer: 1 << 30 });
    return stdout.split('\n').filter(Boolean).map(l => l.split('\t'));
  }
  const m = k => (new RegExp(`${k}=([^;]*)`, 'i').exec(pgConnection) ?? [])[1];
  const { stdout } = await execFileP('psql', ['-h', m('Host'), '-p', m('Port'), '-U', m('Username'), '-d', dbName,
    '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { maxBuffer: 1 << 30 });
  return stdout.split('\n').filter(Boolean).map(l => l.split('\t'));
}

const q = name => (provider === 'sqlite' ? name : `"${name}"`);

async function storedCounts() {
  const rows = await query(`SELECT ${q('ConversationId')}, ${q('ActivityId')}, ${q('Role')} FROM messages`);
  const messages = new Set(rows.map(([c, a]) => `${c}\n${a}`));
  const byRole = {};
  for (const [, , role] of rows) {
    byRole[role] = (byRole[role] ?? 0) + 1;
  }
  const escalations = new Set((await query(`SELECT ${q('Key')} FROM escalations`)).map(([k]) => k));
  return { messages, byRole, escalations, rows: rows.length };
}

// ---------------------------------------------------------------------------------------------------------- helpers
const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN);
const fmt = x => (Number.isNaN(x) ? '-' : x.toFixed(1));
const stamp = () => new Date().toISOString().slice(11, 19);
const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function faultLoop(instances, began) {
  if (fault === 'none' || faults < 1) {
    return [];
  }
  const done = [];
  for (let i = 1; i <= faults; i++) {
    const at = began + (duration * 1000 * i) / (faults + 1);
    while (Date.now() < at && !stopping) {
      await sleep(250);
    }
    if (stopping) {
      break;
    }
    if (fault === 'kill') {
      const victim = instances[(i - 1) % instances.length];
      const before = victim.sample();
      down.add(victim);
      await victim.kill9();
      console.log(`[${stamp()}] fault ${i}: kill -9 instance ${victim.index} (pid ${victim.pid}, RSS ${fmt(before.rss)} MB); down for ${downSeconds} s`);
      await sleep(downSeconds * 1000);
      await victim.start();
      down.delete(victim);
      console.log(`[${stamp()}] fault ${i}: instance ${victim.index} restarted on the same Data:Path (pid ${victim.pid}), ready after ${(victim.readyAfterMs / 1000).toFixed(1)} s`);
      done.push(`kill -9 of instance ${victim.index}, ${downSeconds} s down, ready ${(victim.readyAfterMs / 1000).toFixed(1)} s after restart`);
    } else if (fault === 'pg-restart') {
      const t0 = Date.now();
      const r = await execFileP('bash', [path.join(repo, 'tests/postgres.sh'), 'restart', pgState, String(downSeconds)]).then(() => 'ok', e => e.message);
      console.log(`[${stamp()}] fault ${i}: PostgreSQL restarted (${r}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      done.push(`PostgreSQL restart (${downSeconds ? `stopped ${downSeconds} s` : 'pg_ctl restart'}), ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } else {
      throw new Error(`unknown --fault=${fault}`);
    }
  }
  return done;
}

function serviceLogErrors(instance) {
  const kinds = new Map();
  for (const line of fs.readFileSync(instance.log, 'utf8').split('\n')) {
    if (!line.startsWith('{')) {
      continue;
    }
    try {
      const entry = JSON.parse(line);
      if (entry.LogLevel === 'Error' || entry.LogLevel === 'Critical') {
        // ASP.NET Core's health check service logs every Unhealthy result at Error: the harness's own readiness polls
        // while the index warms up after each start. Counted apart, so they are not read as faults.
        const warmingUp = entry.EventId === 103 && /warming up|index is loading/.test(entry.Message ?? '');
        const key = warmingUp ? 'readiness polls during start-up (index loading, warming up)' : `${entry.LogLevel} ${entry.EventId} ${entry.Category}`;
        kinds.set(key, (kinds.get(key) ?? 0) + 1);
      }
    } catch {
      // not a log line
    }
  }
  return kinds;
}

// ------------------------------------------------------------------------------------------------------------- main
const instances = [];
let exitCode = 1;
try {
  for (let i = 0; i < ports.length; i++) {
    instances.push(new Instance(i, ports[i] || await freePort()));
  }
  if (migrateStep) {
    for (const instance of instances) {
      await instance.migrate(); // one after another: on PostgreSQL the first does the work, the rest find it done
    }
  }
  await Promise.all(instances.map(i => i.start()));
  console.log(`[${stamp()}] ${instances.length} instance(s) ready: ${instances.map(i => `${i.url} pid ${i.pid} (${(i.readyAfterMs / 1000).toFixed(1)} s)`).join(', ')}; storage ${provider}`);

  // Warm-up, not counted: a few requests of each kind on every instance (first requests compile code).
  for (const instance of instances) {
    for (let i = 0; i < 10; i++) {
      await request(`${instance.url}/api/messages`, {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'message', id: `warm-${i}`, channelId: 'emulator', serviceUrl: 'http://127.0.0.1:9/', deliveryMode: 'expectReplies',
          conversation: { id: `soak-warm-${i}` }, from: { id: 'warm' }, recipient: { id: 'clinic-bot' }, text: questions[i % questions.length] }),
      });
    }
  }
  const rssStart = instances.map(i => i.sample());
  console.log(`[${stamp()}] RSS after warm-up: ${rssStart.map((m, i) => `instance ${i} ${fmt(m.rss)} MB`).join(', ')}; load average ${loadavg()}`);
  console.log(`[${stamp()}] load for ${duration} s: ${dlVisitors} Direct Line visitors, ${apiCallers} /api/messages callers, ${messagesEach} messages per conversation, 1 in ${emergencyEvery} an emergency, think ${thinkMs[0]}–${thinkMs[1]} ms; fault: ${fault}${fault === 'none' ? '' : ` ×${faults}`}`);

  const began = Date.now();
  const cpuStart = instances.map(i => cpuTicks(i.pid));
  const progress = setInterval(() => {
    const rss = instances.map(i => fmt(i.sample().rss)).join('/');
    console.log(`[${stamp()}] ${((Date.now() - began) / 1000).toFixed(0)} s: DL ${counts.dl.acked}/${counts.dl.sent} acked, API ${counts.api.acked}/${counts.api.sent} acked, errors ${[...errors.values()].reduce((a, b) => a + b, 0)}, RSS ${rss} MB, load ${loadavg()}`);
  }, 60000);
  const workers = [
    ...Array.from({ length: dlVisitors }, (_, s) => directLineVisitor(instances, s)),
    ...Array.from({ length: apiCallers }, (_, s) => apiCaller(instances, s)),
  ];
  const faultRun = faultLoop(instances, began);
  await sleep(duration * 1000);
  stopping = true;
  const faultsDone = await faultRun;
  await Promise.all(workers);
  clearInterval(progress);
  const seconds = (Date.now() - began) / 1000;

  // Let the escalation outbox drain into the database, then read what was stored (the service still running).
  let stored = await storedCounts();
  const wantedKeys = [
    ...ackedDl.filter(a => a.emergency).map(a => `directline:${a.conversationId}:${a.id}`),
    ...ackedApi.filter(a => a.emergency).map(a => `emulator:${a.conversationId}:${a.id}`),
  ];
  for (let i = 0; i < 60 && wantedKeys.some(k => !stored.escalations.has(k)); i++) {
    await sleep(500);
    stored = await storedCounts();
  }
  const rssEnd = instances.map(i => i.sample());
  const cpuEnd = instances.map(i => cpuTicks(i.pid));

  const lostDl = ackedDl.filter(a => !stored.messages.has(`${a.conversationId}\n${a.id}`));
  const lostApi = ackedApi.filter(a => !stored.messages.has(`${a.conversationId}\n${a.id}`));
  const lostEscalations = wantedKeys.filter(k => !stored.escalations.has(k));
  const repliesNotStored = [...repliesSeen].filter(id => !stored.messages.has(`${id.slice(0, id.lastIndexOf('|'))}\n${id}`));
  const ours = new Set([...ackedDl.map(a => a.conversationId), ...ackedApi.map(a => a.conversationId)]);
  const escalationsStored = [...stored.escalations].filter(k => ours.has(k.split(':').slice(1, -1).join(':'))).length;

  const dlLat = latency.dl.sort((a, b) => a - b);
  const apiLat = latency.api.sort((a, b) => a - b);
  const totalErrors = [...errors.values()].reduce((a, b) => a + b, 0);
  console.log('');
  console.log(`== soak result (${provider}, ${instances.length} instance(s), ${seconds.toFixed(0)} s, fault: ${fault})`);
  for (const f of faultsDone) {
    console.log(`fault: ${f}`);
  }
  console.log(`Direct Line: ${counts.dl.conversations} conversations (${counts.dl.startFailed} failed to start), ${counts.dl.sent} messages sent, ${counts.dl.acked} acknowledged, stored ${counts.dl.acked - lostDl.length}, **lost ${lostDl.length}**; replies received ${counts.dl.replied}, none within ${replyTimeoutMs / 1000} s ${counts.dl.noReply}; stream reconnects ${counts.dl.reconnects}`);
  console.log(`/api/messages: ${counts.api.conversations} conversations, ${counts.api.sent} messages sent, ${counts.api.acked} acknowledged, stored ${counts.api.acked - lostApi.length}, **lost ${lostApi.length}**`);
  console.log(`escalations: emergencies sent ${counts.dl.emergencies + counts.api.emergencies}, acknowledged ${wantedKeys.length}, stored ${wantedKeys.length - lostEscalations.length} of those (${escalationsStored} rows for this run's conversations), **lost ${lostEscalations.length}**`);
  console.log(`transcript rows: ${stored.rows} (${Object.entries(stored.byRole).map(([k, v]) => `${k} ${v}`).join(', ')}); Direct Line replies received but not stored: ${repliesNotStored.length}`);
  console.log(`latency: Direct Line message→reply p50 ${fmt(percentile(dlLat, 50))} ms, p99 ${fmt(percentile(dlLat, 99))} ms, max ${fmt(dlLat.at(-1) ?? NaN)} ms (${dlLat.length}); /api/messages p50 ${fmt(percentile(apiLat, 50))} ms, p99 ${fmt(percentile(apiLat, 99))} ms, max ${fmt(apiLat.at(-1) ?? NaN)} ms (${apiLat.length})`);
  console.log(`throughput: ${((counts.dl.acked + counts.api.acked) / seconds).toFixed(1)} acknowledged messages/s`);
  console.log(`client errors: ${totalErrors}${totalErrors ? ` (${[...errors.entries()].map(([k, v]) => `${k} ×${v}`).join('; ')})` : ''}`);
  instances.forEach((inst, i) => {
    const logErrors = serviceLogErrors(inst);
    const cpu = Number.isNaN(cpuStart[i]) || Number.isNaN(cpuEnd[i]) ? '-' : `${((cpuEnd[i] - cpuStart[i]) / 100).toFixed(1)} s`;
    console.log(`instance ${i}: RSS after warm-up ${fmt(rssStart[i].rss)} MB, at the end ${fmt(rssEnd[i].rss)} MB (max sampled ${fmt(Math.max(...inst.rssSamples))} MB, peak of this process ${fmt(rssEnd[i].hwm)} MB); CPU ${cpu}${inst.starts > 1 ? ' (since its last start)' : ''}; starts ${inst.starts}; log errors ${logErrors.size ? [...logErrors.entries()].map(([k, v]) => `${k} ×${v}`).join('; ') : 'none'}`);
  });
  console.log(`load average at the end: ${loadavg()}`);
  for (const l of [...lostDl, ...lostApi].slice(0, 10)) {
    console.log(`lost: ${l.conversationId} ${l.id}${l.emergency ? ' (emergency)' : ''}`);
  }
  for (const k of lostEscalations.slice(0, 10)) {
    console.log(`lost escalation: ${k}`);
  }
  // For a message whose reply never reached the client: what the transcript holds after it (was a reply stored?).
  for (const { conversationId, id, watermark, socketOpen } of noReply.slice(0, 5)) {
    const seq = Number(id.slice(id.lastIndexOf('|') + 1));
    const rows = await query(`SELECT ${q('Seq')}, ${q('Role')}, ${q('Type')} FROM messages WHERE ${q('ConversationId')} = '${conversationId.replace(/'/g, "''")}' AND ${q('Seq')} >= ${seq} ORDER BY ${q('Seq')}`);
    console.log(`no reply seen for ${id} (client watermark ${watermark}, socket ${socketOpen ? 'open' : 'closed'}): the transcript from it on: ${rows.map(r => r.join(' ')).join(', ') || 'nothing'}`);
  }
  const lost = lostDl.length + lostApi.length + lostEscalations.length;
  // Pass: nothing acknowledged was lost; without a fault also no error at all.
  exitCode = lost === 0 && (fault !== 'none' || totalErrors === 0) ? 0 : 1;
  console.log(exitCode === 0 ? 'PASS' : 'FAIL');
} catch (e) {
  console.error(`soak.mjs: ${e.stack ?? e}`);
  exitCode = 2;
} finally {
  stopping = true;
  await Promise.all(instances.map(i => i.stop()));
  agent.destroy();
}
process.exit(exitCode);

function cpuTicks(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime, clock ticks (100/s)
  } catch {
    return NaN;
  }
}
