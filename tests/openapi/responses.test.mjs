// Every response body a real api-server gives, validated against the OpenAPI document's
// schema for its path, method, status and content type (ajv, JSON Schema 2020-12 as
// OpenAPI 3.1 uses). The stack: a PostgreSQL schema of its own, the fake MediaMTX, one
// sync-worker --once, api-server. Nothing listens beyond 127.0.0.1.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const build = process.env.CAMREG_BUILD_DIR ?? path.join(root, 'build/ci');
const doc = JSON.parse(readFileSync(path.join(root, 'adapters/http/openapi.json'), 'utf8'));

function databaseUrl() {
  if (process.env.CAMREG_TEST_DATABASE_URL) return process.env.CAMREG_TEST_DATABASE_URL;
  const file = process.env.CAMREG_TEST_PG_URL_FILE;
  if (!file) throw new Error('set CAMREG_TEST_DATABASE_URL or run through ctest');
  return readFileSync(file, 'utf8').trim();
}

function schemaUrl(name) {
  const base = databaseUrl();
  execFileSync('psql', [base, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c',
    `SET client_min_messages = warning; DROP SCHEMA IF EXISTS ${name} CASCADE; CREATE SCHEMA ${name}`]);
  return `${base}${base.includes('?') ? '&' : '?'}options=-csearch_path%3D${name}`;
}

// Starts a child; resolves with the first match of `ready` on its stdout.
function start(command, args, ready, label) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const matched = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start:\n${output}`)), 20000);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const m = output.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.on('exit', (code) => reject(new Error(`${label} exited ${code}:\n${output}`)));
  });
  return { child, matched };
}

function pathItem(name, available) {
  return {
    name, confName: name, ready: available, readyTime: available ? '2026-11-24T10:00:00Z' : null,
    available, availableTime: available ? '2026-11-24T10:00:00Z' : null, online: available,
    onlineTime: null, source: available ? { type: 'rtspSource', id: '' } : null,
    tracks: available ? ['H264'] : [], tracks2: available ? [{ codec: 'H264', codecProps: null }] : [],
    readers: [], inboundBytes: 0, outboundBytes: 0, inboundFramesInError: 0, bytesReceived: 0, bytesSent: 0,
  };
}

// The document's operation for a concrete path: literal paths first, then templates
// ("{key}" takes the rest, slashes included, as the route table's "{key...}").
function operationFor(method, urlPath) {
  for (const [template, item] of Object.entries(doc.paths)) {
    const pattern = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '.+')}$`);
    if (pattern.test(urlPath) && item[method]) return { template, operation: item[method] };
  }
  return null;
}

const deref = (o) => (o && o.$ref ? o.$ref.slice(2).split('/').reduce((x, k) => x[k], doc) : o);

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'camreg-openapi', components: doc.components });
const validators = new Map();
function validatorFor(schema) {
  const key = JSON.stringify(schema);
  if (!validators.has(key)) {
    // Local refs ("#/components/...") resolve against the document's components.
    const rebased = JSON.parse(key.replaceAll('"$ref":"#/', '"$ref":"camreg-openapi#/'));
    validators.set(key, ajv.compile(rebased));
  }
  return validators.get(key);
}

let fake, api, server, checked = 0;

// Fetches target and checks the answer against the document: the status is documented
// for the operation, and a JSON body matches its schema. Returns the response and body.
async function checked_fetch(target, init = {}) {
  const method = (init.method ?? 'GET').toLowerCase();
  const response = await fetch(`${api}${target}`, init);
  const text = await response.text();
  const urlPath = new URL(target, api).pathname;
  const found = operationFor(method === 'head' ? 'get' : method, urlPath)
    ?? operationFor('get', urlPath);
  assert.ok(found, `${method} ${urlPath}: not in the document`);
  const documented = deref(found.operation.responses[String(response.status)]);
  assert.ok(documented, `${method} ${urlPath} answered ${response.status}, not documented for ${found.template}`);
  const type = (response.headers.get('content-type') ?? '').split(';')[0];
  if (type === 'application/json' && text !== '') {
    const content = documented.content?.['application/json'];
    assert.ok(content, `${found.template} ${response.status}: no application/json content documented`);
    const validate = validatorFor(content.schema);
    assert.ok(validate(JSON.parse(text)),
      `${method} ${target} ${response.status}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 2000)}`);
    ++checked;
  }
  return { response, text };
}

before(async () => {
  const p = start('/usr/bin/python3', [path.join(root, 'tests/fake_mediamtx/fake_mediamtx.py'), '--listen', '127.0.0.1:0'],
    /"port":\s*(\d+)/, 'fake MediaMTX');
  fake = { process: p.child, api: `http://127.0.0.1:${(await p.matched)[1]}` };
  const r = await fetch(`${fake.api}/_fake/paths`, {
    method: 'PUT',
    body: JSON.stringify([pathItem('cam-lobby', true), pathItem('site-a/building.2/cam_1', true),
      pathItem('cam "odd"\\ café', false)]),
  });
  assert.equal(r.status, 200);
  const db = schemaUrl('openapi_responses');
  execFileSync(path.join(build, 'apps/sync-worker/sync-worker'),
    ['--once', '--migrate', '--database-url', db, '--mediamtx-url', fake.api]);
  const s = start(path.join(build, 'apps/api-server/api-server'),
    ['--database-url', db, '--listen', '127.0.0.1:0', '--web-root', '', '--trigger-token', 'openapi-trigger',
      '--admin-token', 'openapi-admin', '--no-deliver'],
    /listening port=(\d+)/, 'api-server');
  server = s.child;
  api = `http://127.0.0.1:${(await s.matched)[1]}`;
});

after(() => {
  server?.kill('SIGTERM');
  fake?.process.kill('SIGTERM');
});

test('every documented GET answers as the document says', async () => {
  const { text } = await checked_fetch('/api/devices');
  assert.equal(JSON.parse(text).length, 3);
  await checked_fetch('/api/devices?device_type=camera&active_only=true');
  await checked_fetch('/api/devices/site-a/building.2/cam_1');
  await checked_fetch(`/api/devices/${encodeURIComponent('cam "odd"\\ café')}`);
  await checked_fetch('/api/sync/status');
  await checked_fetch('/api/sync/status?site=default');
  await checked_fetch('/api/devices?site=default&device_type=camera');
  const { text: sites } = await checked_fetch('/api/sites');
  assert.deepEqual(JSON.parse(sites).map((site) => [site.site, site.devices.total]), [['default', 3]]);
  await checked_fetch('/healthz');
  await checked_fetch('/readyz');
  // Pages: the first two by key, then the rest through the Link; the last has none.
  const { response: page, text: pageText } = await checked_fetch('/api/devices?limit=2');
  assert.equal(JSON.parse(pageText).length, 2);
  const next = page.headers.get('link').match(/^<([^>]+)>; rel="next"$/)[1];
  const { response: last, text: lastText } = await checked_fetch(next);
  assert.equal(JSON.parse(lastText).length, 1);
  assert.equal(last.headers.get('link'), null);
  const { response, text: metrics } = await checked_fetch('/metrics');
  assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  assert.match(metrics, /^camreg_devices\{device_type="camera",site="default",state="live"\} 2$/m);
  const { text: served } = await checked_fetch('/api/openapi.json');
  assert.deepEqual(JSON.parse(served), doc);
});

test('errors, 304 and 405 answer with the documented bodies', async () => {
  for (const target of ['/api/devices?active_only=maybe', '/api/devices?colour=red', '/api/devices/nope',
    '/api/devices/%zz', '/api/devices?limit=0', '/api/devices?limit=2&cursor=bad!',
    '/api/events?types=device.nope', '/api/events?after=-1', '/api/devices?site=a%40b',
    '/api/sync/status?site=', '/api/sites?site=default', '/api/history?site=no%20such']) {
    const { response } = await checked_fetch(target);
    assert.ok(response.status >= 400, target);
  }
  const { response: first } = await checked_fetch('/api/devices');
  const { response: again } = await checked_fetch('/api/devices', { headers: { 'If-None-Match': first.headers.get('etag') } });
  assert.equal(again.status, 304);
  const { response: post } = await checked_fetch('/api/devices', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD, OPTIONS');
  assert.ok(checked >= 12, `only ${checked} JSON bodies were validated`);
});

test('the trigger answers as the document says', async () => {
  const bearer = (token) => ({ method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  const { response: ok, text } = await checked_fetch('/api/sync/trigger?path=site-a/dock', bearer('openapi-trigger'));
  assert.equal(ok.status, 202);
  assert.deepEqual(JSON.parse(text), { status: 'accepted', path: 'site-a/dock' });
  const { response: wrong } = await checked_fetch('/api/sync/trigger', bearer('guess'));
  assert.equal(wrong.status, 401);
  assert.match(wrong.headers.get('www-authenticate'), /^Bearer /);
  const { response: none } = await checked_fetch('/api/sync/trigger', { method: 'POST' });
  assert.equal(none.status, 401);
  const { response: bad } = await checked_fetch('/api/sync/trigger?colour=red', bearer('openapi-trigger'));
  assert.equal(bad.status, 400);
  // No GET is documented for it: the 405 is checked by hand.
  const get = await fetch(`${api}/api/sync/trigger`);
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST, OPTIONS');
});

test('the webhook routes answer as the document says', async () => {
  const admin = (method, body) => ({
    method, headers: { Authorization: 'Bearer openapi-admin', 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const { response: created, text } = await checked_fetch('/api/webhooks',
    admin('POST', { url: 'http://127.0.0.1:9/hook', types: ['device.offline', 'device.online'] }));
  assert.equal(created.status, 201);
  const endpoint = JSON.parse(text);
  assert.match(endpoint.secret, /^whsec_/);
  const { text: listed } = await checked_fetch('/api/webhooks', admin('GET'));
  assert.equal(JSON.parse(listed).length, 1);
  assert.equal(JSON.parse(listed)[0].secret, undefined);
  const { response: deliveries } = await checked_fetch(`/api/webhooks/${endpoint.id}/deliveries`, admin('GET'));
  assert.equal(deliveries.status, 200);
  const { response: replay } = await checked_fetch(`/api/webhooks/${endpoint.id}/replay?after=0`, admin('POST'));
  assert.equal(replay.status, 202);
  for (const [target, init, status] of [
    ['/api/webhooks', admin('POST', { url: 'ftp://x/' }), 400],
    ['/api/webhooks', admin('POST', { url: 'http://127.0.0.1:9/', types: ['device.nope'] }), 400],
    ['/api/webhooks', { method: 'GET', headers: { Authorization: 'Bearer guess' } }, 401],
    ['/api/webhooks/999999/deliveries', admin('GET'), 404],
  ]) {
    const { response } = await checked_fetch(target, init);
    assert.equal(response.status, status, target);
  }
  const { response: removed } = await checked_fetch(`/api/webhooks/${endpoint.id}`, admin('DELETE'));
  assert.equal(removed.status, 204);
});
