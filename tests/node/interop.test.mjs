// Interop with the official Bot Framework SDK for JavaScript (botbuilder 4.23): the SDK builds the activities a
// channel sends, and the SDK's own Connector service (ChannelServiceRoutes + CloudChannelServiceHandler, what a
// skill host runs) receives the bot's replies, parses them and answers the Connector's way. Run by
// BotbuilderInteropTests in the integration tests with BOT_URL pointing at the real service (anonymous local mode).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';

// botbuilder is CommonJS; CloudChannelServiceHandler is not re-exported from its index, so it is required by path.
const require = createRequire(import.meta.url);
const {
  ActivityTypes, CardFactory, ChannelServiceRoutes, ConfigurationBotFrameworkAuthentication, MessageFactory, TurnContext,
} = require('botbuilder');
const { CloudChannelServiceHandler } = require('botbuilder/lib/cloudChannelServiceHandler');

const botUrl = process.env.BOT_URL ?? 'http://127.0.0.1:3978';

/** The SDK's Connector service on a loopback port; records what the bot sends. */
async function startConnector() {
  const received = [];
  class Recorder extends CloudChannelServiceHandler {
    async onReplyToActivity(claims, conversationId, activityId, activity) {
      received.push({ route: 'reply', conversationId, activityId, activity });
      return { id: `r${received.length}` };
    }
    async onSendToConversation(claims, conversationId, activity) {
      received.push({ route: 'send', conversationId, activity });
      return { id: `s${received.length}` };
    }
  }
  // No app id: the SDK accepts the anonymous bot (which sends no token), as the Emulator does.
  const handler = new Recorder(new ConfigurationBotFrameworkAuthentication({}));
  const routes = [];
  const server = {
    get: (path, h) => routes.push({ method: 'GET', path, h }),
    post: (path, h) => routes.push({ method: 'POST', path, h }),
    put: (path, h) => routes.push({ method: 'PUT', path, h }),
    delete: (path, h) => routes.push({ method: 'DELETE', path, h }),
  };
  new ChannelServiceRoutes(handler).register(server);

  const match = (pattern, path) => {
    const p = pattern.split('/'), a = path.split('/');
    if (p.length !== a.length) return null;
    const params = {};
    for (let i = 0; i < p.length; i++) {
      if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(a[i]);
      else if (p[i] !== a[i]) return null;
    }
    return params;
  };
  const httpServer = http.createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const path = new URL(req.url, 'http://x').pathname;
    for (const r of routes) {
      const params = r.method === req.method ? match(r.path, path) : null;
      if (!params) continue;
      const request = { method: req.method, headers: req.headers, params, query: {}, body: raw ? JSON.parse(raw) : undefined };
      const response = {
        statusCode: 200, body: undefined,
        status(code) { this.statusCode = code; return this; },
        send(body) { this.body = body; return this; },
        end() {
          res.writeHead(this.statusCode, { 'content-type': 'application/json' });
          res.end(this.body === undefined ? '' : JSON.stringify(this.body));
        },
      };
      r.h(request, response, () => {}); // restify-style next()
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${httpServer.address().port}/`;
  return { url, received, close: () => new Promise((resolve) => httpServer.close(resolve)) };
}

/** A message as a channel sends it, built with the SDK's MessageFactory and a conversation reference. */
function channelMessage(text, serviceUrl, conversationId) {
  const reference = {
    channelId: 'emulator',
    serviceUrl,
    conversation: { id: conversationId },
    user: { id: 'user-interop', name: 'Visitor', role: 'user' },
    bot: { id: 'clinic-bot', name: 'Clinic', role: 'bot' },
  };
  const activity = TurnContext.applyConversationReference(MessageFactory.text(text), reference, true);
  activity.id = `in-${conversationId}`;
  activity.timestamp = new Date().toISOString();
  activity.locale = 'en-US';
  activity.channelData = { clientActivityID: 'abc123', custom: { kept: true } };
  return activity;
}

async function post(activity) {
  const response = await fetch(`${botUrl}/api/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity),
  });
  return response;
}

async function waitFor(predicate, ms = 10000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (predicate()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('timed out waiting for the bot');
}

test('the SDK Connector service receives the cited answer as a reply to the message', async () => {
  const connector = await startConnector();
  try {
    const response = await post(channelMessage('how much is an infusion?', connector.url, 'interop-1'));
    assert.equal(response.status, 200);
    await waitFor(() => connector.received.some((r) => r.activity.type === ActivityTypes.Message));

    const { route, conversationId, activityId, activity } = connector.received.find((r) => r.activity.type === ActivityTypes.Message);
    assert.equal(route, 'reply');
    assert.equal(conversationId, 'interop-1');
    assert.equal(activityId, 'in-interop-1');
    assert.equal(activity.replyToId, 'in-interop-1');
    assert.equal(activity.recipient.id, 'user-interop');
    assert.equal(activity.from.id, 'clinic-bot');
    assert.match(activity.text, /\$275/);
    assert.match(activity.text, /\[1\]: cite:1 "Source: /);
    // The SDK reads the reply's conversation reference as it would for a proactive message later.
    const reference = TurnContext.getConversationReference(activity);
    assert.equal(reference.conversation.id, 'interop-1');
  } finally {
    await connector.close();
  }
});

test('an emergency sends the crisis hero card first, and nothing else', async () => {
  const connector = await startConnector();
  try {
    const response = await post(channelMessage('I am going to kill myself tonight', connector.url, 'interop-2'));
    assert.equal(response.status, 200);
    await waitFor(() => connector.received.length > 0);
    await new Promise((r) => setTimeout(r, 300)); // anything else the turn sent would have arrived by now

    const messages = connector.received.filter((r) => r.activity.type === ActivityTypes.Message);
    // The crisis card, then (nobody has the dashboard open in this test) the notice that staff will follow up: no answer.
    assert.equal(messages.length, 2);
    assert.match(messages[1].activity.text, /^No one from the clinic is online right now\./);
    const crisis = messages[0].activity;
    assert.match(crisis.text, /911/);
    assert.match(crisis.text, /988/);
    assert.match(crisis.text, /741741/);
    assert.equal(crisis.attachments[0].contentType, CardFactory.contentTypes.heroCard);
    assert.deepEqual(crisis.attachments[0].content.buttons.map((b) => b.value).slice(0, 2), ['tel:911', 'tel:988']);
  } finally {
    await connector.close();
  }
});

test('expectReplies returns the SDK ExpectedReplies shape, with unknown fields of the request ignored safely', async () => {
  const activity = channelMessage('what is ketamine assisted psychotherapy', 'http://127.0.0.1:9/', 'interop-3');
  activity.deliveryMode = 'expectReplies';
  activity.someFutureField = { nested: [1, 2, 3] };
  const response = await post(activity);
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.ok(Array.isArray(body.activities));
  const reply = body.activities[0];
  assert.equal(reply.type, ActivityTypes.Message);
  assert.equal(reply.conversation.id, 'interop-3');
  assert.ok(reply.suggestedActions.actions.length >= 1);
  assert.equal(reply.entities[0].type, 'https://schema.org/Message');
});
