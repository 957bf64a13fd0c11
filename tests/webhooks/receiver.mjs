// A webhook receiver on loopback for the end-to-end tests: every POST /hook is verified
// with the Standard Webhooks reference library (standardwebhooks, pinned in
// package-lock.json) and recorded; the test scripts its answers.
//   PUT /control  {"secret": "whsec_...", "plan": [{"status": 503, "retry_after": "3",
//                  "hold": false, "times": 4}, ...], "default": {"status": 200}}
//     each delivery takes the plan's first answer (times counts down), then the default;
//     hold: never answer (the connection stays open until the sender goes)
//   GET /received  every delivery so far: {"id", "timestamp", "signature", "body",
//                  "verified", "error", "status", "at_ms"}
// Prints "listening <port>" once it listens.
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

let secret = null;
let plan = [];
let fallback = { status: 200 };
const received = [];

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function nextAnswer() {
  while (plan.length > 0) {
    const head = plan[0];
    if ((head.times ?? 1) <= 0) {
      plan.shift();
      continue;
    }
    head.times = (head.times ?? 1) - 1;
    return head;
  }
  return fallback;
}

const server = http.createServer(async (req, res) => {
  const body = await readBody(req);
  if (req.method === 'PUT' && req.url === '/control') {
    const control = JSON.parse(body);
    if ('secret' in control) secret = control.secret;
    if ('plan' in control) plan = control.plan;
    if ('default' in control) fallback = control.default;
    res.writeHead(204).end();
    return;
  }
  if (req.method === 'GET' && req.url === '/received') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(received));
    return;
  }
  if (req.method !== 'POST' || req.url !== '/hook') {
    res.writeHead(404).end();
    return;
  }
  const record = {
    id: req.headers['webhook-id'] ?? null,
    timestamp: req.headers['webhook-timestamp'] ?? null,
    signature: req.headers['webhook-signature'] ?? null,
    content_type: req.headers['content-type'] ?? null,
    body,
    verified: false,
    error: null,
    status: null,
    at_ms: Date.now(),
  };
  try {
    new Webhook(secret).verify(body, req.headers);
    record.verified = true;
  } catch (e) {
    record.error = String(e && e.message ? e.message : e);
  }
  const answer = nextAnswer();
  received.push(record);
  if (answer.hold) return; // never answered
  record.status = answer.status;
  const headers = {};
  if (answer.retry_after) headers['retry-after'] = answer.retry_after;
  res.writeHead(answer.status, headers).end();
});

server.keepAliveTimeout = 1000;
server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
