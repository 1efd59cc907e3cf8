// Self-test for provider.mjs and browser.mjs: real provider, real headless
// Chromium, real token endpoint, real signature checks.
//
//   node selftest.mjs
//
// Prints one line per check and a closing "N passed, N failed" line; exits 0
// only when every check passed.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE = process.execPath; // children run on the same Node as the self-test

const USERS = [
  { username: 'alice', password: 'alice-Pw-1!', email: 'alice@example.com', groups: ['dba', 'eng'] },
  { username: 'bob', password: 'bob-Pw-2!', email: 'bob@example.com', groups: ['analyst'] },
];
const WRONG_PASSWORD = 'not-the-right-one-42';
const SCOPE = 'openid email groups';
const ID_TOKEN_TTL = 600;

// ---------------------------------------------------------------- helpers ---

const results = [];
async function check(name, fn) {
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   - ${name}`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`FAIL - ${name}\n       ${String(err.message).split('\n').join('\n       ')}`);
  }
}

const b64urlJson = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
const randomToken = () => crypto.randomBytes(24).toString('base64url');
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Run `node script args...`, collect output.
function runNode(args, { timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, args, { cwd: HERE, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// browser.mjs must exit 0 and print exactly one JSON object.
async function browser(args) {
  const { code, stdout, stderr } = await runNode([path.join(HERE, 'browser.mjs'), ...args]);
  assert.equal(code, 0, `browser.mjs exited ${code}: ${stderr.trim()}`);
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `browser.mjs printed ${lines.length} lines`);
  return JSON.parse(lines[0]);
}

// Verify a compact JWS ID token against the provider's JWKS with node:crypto
// and return { header, payload }.
function verifyIdToken(idToken, jwks, { issuer, clientId, alg, sub, user, nonce }) {
  const [h, p, s] = idToken.split('.');
  const header = b64urlJson(h);
  const payload = b64urlJson(p);
  assert.equal(header.alg, alg, 'ID token alg');
  assert.ok(header.kid, 'ID token header has a kid');
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `kid ${header.kid} is published in jwks_uri`);
  const { kid, alg: _alg, use, ...keyMaterial } = jwk;
  const key = crypto.createPublicKey({ key: keyMaterial, format: 'jwk' });
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  const valid = {
    RS256: () => crypto.verify('sha256', data, key, sig),
    ES256: () => crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig),
    EdDSA: () => crypto.verify(null, data, key, sig),
  }[alg]();
  assert.ok(valid, `ID token signature verifies with ${alg} key ${header.kid}`);
  assert.equal(payload.iss, issuer, 'iss');
  assert.ok(payload.aud === clientId || (Array.isArray(payload.aud) && payload.aud.includes(clientId)), `aud ${JSON.stringify(payload.aud)} = ${clientId}`);
  assert.equal(payload.sub, sub, 'sub');
  assert.equal(payload.email, user.email, 'email claim in ID token');
  assert.deepEqual(payload.groups, user.groups, 'groups claim in ID token');
  if (nonce !== undefined) assert.equal(payload.nonce, nonce, 'nonce');
  assert.equal(payload.exp - payload.iat, ID_TOKEN_TTL, 'ID token lifetime');
  return { header, payload };
}

function pkcePair() {
  const verifier = randomToken() + randomToken();
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

// Token endpoint request with the client's authentication method.
async function tokenRequest(discovery, client, params) {
  const body = new URLSearchParams(params);
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  switch (client.token_endpoint_auth_method) {
    case 'client_secret_basic':
      headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`;
      break;
    case 'client_secret_post':
      body.set('client_id', client.client_id);
      body.set('client_secret', client.client_secret);
      break;
    default:
      body.set('client_id', client.client_id);
  }
  const resp = await fetch(discovery.token_endpoint, { method: 'POST', headers, body });
  return { status: resp.status, json: await resp.json() };
}

// ------------------------------------------------------- callback server ---

// Stands in for the relying party: records every redirect it receives, sets a
// cookie, and echoes the cookies on /whoami (to check browser.mjs --fetch).
function startCallbackServer() {
  const received = new Map(); // state -> URLSearchParams
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/whoami') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`cookies: ${req.headers.cookie ?? ''}`);
      return;
    }
    const state = url.searchParams.get('state');
    if (state) received.set(state, { path: url.pathname, params: url.searchParams });
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'set-cookie': `cb_session=${encodeURIComponent(state ?? 'none')}; Path=/; HttpOnly; SameSite=Lax`,
    });
    res.end('<!DOCTYPE html><title>cb</title><p>callback received</p>');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, received, port: server.address().port }));
  });
}

// ----------------------------------------------------------------- provider ---

function startProvider(configPath) {
  const child = spawn(NODE, [path.join(HERE, 'provider.mjs'), configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const state = { child, stdout: '', stderr: '', exit: null };
  child.stdout.on('data', (d) => { state.stdout += d; });
  child.stderr.on('data', (d) => { state.stderr += d; });
  state.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => { state.exit = { code, signal }; resolve(state.exit); });
  });
  state.ready = (async () => {
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      const m = /^READY (http:\/\/127\.0\.0\.1:\d+)\n/.exec(state.stdout);
      if (m) return m[1];
      if (state.exit) throw new Error(`provider exited early (${JSON.stringify(state.exit)}):\n${state.stderr}`);
      await sleep(50);
    }
    throw new Error(`provider not ready after 20 s:\n${state.stderr}`);
  })();
  return state;
}

// ---------------------------------------------------------------- the test ---

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-selftest-'));
  const cb = await startCallbackServer();
  const cbBase = `http://127.0.0.1:${cb.port}`;

  const clients = {
    native: {
      client_id: 'gatehouse-cli',
      redirect_uris: ['http://127.0.0.1/callback'], // port chosen at run time (RFC 8252 7.3)
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      id_token_signed_response_alg: 'RS256',
    },
    web: {
      client_id: 'gatehouse-web',
      client_secret: 'web-secret-0123456789abcdef0123456789abcdef',
      redirect_uris: [`${cbBase}/web/callback`],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
      application_type: 'web',
      id_token_signed_response_alg: 'ES256',
    },
    eddsa: {
      client_id: 'gatehouse-eddsa',
      client_secret: 'eddsa-secret-0123456789abcdef0123456789abcdef',
      redirect_uris: [`${cbBase}/eddsa/callback`],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
      application_type: 'web',
      id_token_signed_response_alg: 'EdDSA',
    },
  };
  const configPath = path.join(tmp, 'provider.json');
  fs.writeFileSync(configPath, JSON.stringify({
    port: 0,
    clients: Object.values(clients),
    users: USERS,
    id_token_ttl_seconds: ID_TOKEN_TTL,
  }, null, 2));

  const provider = startProvider(configPath);
  let issuer;
  try {
    issuer = await provider.ready;
  } catch (err) {
    console.log(`FAIL - provider start\n${err.message}`);
    cb.server.close();
    return 1;
  }
  console.log(`# provider ${issuer}, callback server ${cbBase}, node ${process.version}`);

  let discovery;
  let jwks;
  await check('discovery document and JWKS', async () => {
    discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
    assert.equal(discovery.issuer, issuer);
    for (const alg of ['RS256', 'ES256', 'EdDSA']) {
      assert.ok(discovery.id_token_signing_alg_values_supported.includes(alg), `${alg} advertised`);
    }
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
    assert.ok(discovery.device_authorization_endpoint, 'device_authorization_endpoint');
    assert.ok(discovery.scopes_supported.includes('groups'), 'groups scope');
    jwks = await (await fetch(discovery.jwks_uri)).json();
    const kinds = jwks.keys.map((k) => `${k.kty}/${k.alg}`).sort();
    assert.deepEqual(kinds, ['EC/ES256', 'OKP/EdDSA', 'RSA/RS256']);
    assert.equal(new Set(jwks.keys.map((k) => k.kid)).size, 3, 'distinct kids');
    assert.ok(jwks.keys.every((k) => k.d === undefined), 'no private key material published');
  });
  if (!discovery || !jwks) return finish(provider, cb, 'discovery failed');

  const authUrl = (client, redirectUri, { state, nonce, challenge }) => {
    const u = new URL(discovery.authorization_endpoint);
    u.search = new URLSearchParams({
      client_id: client.client_id,
      response_type: 'code',
      scope: SCOPE,
      redirect_uri: redirectUri,
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    return u.href;
  };

  // ---- authorization code flow + PKCE, one client per signing algorithm ----
  const codeFlows = [
    { label: 'native public client, loopback port picked at run time, RS256', client: clients.native, user: USERS[0], redirectUri: `${cbBase}/callback` },
    { label: 'confidential web client (client_secret_basic), ES256', client: clients.web, user: USERS[0], redirectUri: `${cbBase}/web/callback` },
    { label: 'confidential web client (client_secret_post), EdDSA', client: clients.eddsa, user: USERS[1], redirectUri: `${cbBase}/eddsa/callback` },
  ];
  for (const flow of codeFlows) {
    await check(`code flow: ${flow.label}, user ${flow.user.username}`, async () => {
      const state = randomToken();
      const nonce = randomToken();
      const { verifier, challenge } = pkcePair();
      const out = await browser([
        'login', '--url', authUrl(flow.client, flow.redirectUri, { state, nonce, challenge }),
        '--username', flow.user.username, '--password', flow.user.password,
        '--until', `${cbBase}/`, '--fetch', `${cbBase}/whoami`,
      ]);
      assert.equal(out.login_error, false, 'login_error');
      assert.equal(out.provider_error, null, 'provider_error');
      assert.equal(out.status, 200, 'final navigation status');
      assert.ok(out.final_url.startsWith(flow.redirectUri), `final_url ${out.final_url}`);
      assert.match(out.body, /callback received/);
      const final = new URL(out.final_url);
      assert.equal(final.searchParams.get('state'), state, 'state round-trips');
      assert.equal(final.searchParams.get('iss'), issuer, 'iss authorization response parameter');
      const cbHit = cb.received.get(state);
      assert.ok(cbHit, 'callback server received the redirect');
      const code = cbHit.params.get('code');
      assert.ok(code, 'authorization code present');

      // --fetch runs inside the page and carries the page's cookies.
      assert.equal(out.fetches.length, 1);
      assert.equal(out.fetches[0].status, 200);
      assert.ok(out.fetches[0].body.includes(`cb_session=${encodeURIComponent(state)}`), `fetch body ${out.fetches[0].body}`);
      const sessionCookie = out.cookies.find((c) => c.name === '_session');
      assert.ok(sessionCookie, 'provider session cookie in the browser');
      assert.equal(sessionCookie.domain, '127.0.0.1');
      assert.equal(sessionCookie.httpOnly, true);
      assert.ok(out.cookies.some((c) => c.name === 'cb_session'), 'callback cookie listed');

      const tok = await tokenRequest(discovery, flow.client, {
        grant_type: 'authorization_code', code, redirect_uri: flow.redirectUri, code_verifier: verifier,
      });
      assert.equal(tok.status, 200, `token endpoint: ${JSON.stringify(tok.json)}`);
      assert.equal(tok.json.token_type, 'Bearer');
      verifyIdToken(tok.json.id_token, jwks, {
        issuer, clientId: flow.client.client_id, alg: flow.client.id_token_signed_response_alg,
        sub: flow.user.username, user: flow.user, nonce,
      });

      // Same claims on the userinfo endpoint.
      const ui = await (await fetch(discovery.userinfo_endpoint, {
        headers: { authorization: `Bearer ${tok.json.access_token}` },
      })).json();
      assert.equal(ui.sub, flow.user.username);
      assert.deepEqual(ui.groups, flow.user.groups);

      // Refresh tokens for clients that registered the grant.
      if (flow.client.grant_types.includes('refresh_token')) {
        assert.ok(tok.json.refresh_token, 'refresh_token issued');
        const ref = await tokenRequest(discovery, flow.client, {
          grant_type: 'refresh_token', refresh_token: tok.json.refresh_token,
        });
        assert.equal(ref.status, 200, `refresh: ${JSON.stringify(ref.json)}`);
        verifyIdToken(ref.json.id_token, jwks, {
          issuer, clientId: flow.client.client_id, alg: flow.client.id_token_signed_response_alg,
          sub: flow.user.username, user: flow.user,
        });
      } else {
        assert.equal(tok.json.refresh_token, undefined, 'no refresh_token without the grant');
      }

      // Codes are single use; a replay also revokes what the code produced.
      const again = await tokenRequest(discovery, flow.client, {
        grant_type: 'authorization_code', code, redirect_uri: flow.redirectUri, code_verifier: verifier,
      });
      assert.equal(again.json.error, 'invalid_grant', 'second use of the code is refused');
      if (tok.json.refresh_token) {
        const revoked = await tokenRequest(discovery, flow.client, {
          grant_type: 'refresh_token', refresh_token: tok.json.refresh_token,
        });
        assert.equal(revoked.json.error, 'invalid_grant', 'code replay revoked the refresh token');
      }
    });
  }

  await check('PKCE is enforced: wrong code_verifier and missing code_challenge are refused', async () => {
    const state = randomToken();
    const { challenge } = pkcePair();
    const out = await browser([
      'login', '--url', authUrl(clients.native, `${cbBase}/callback`, { state, nonce: randomToken(), challenge }),
      '--username', 'alice', '--password', USERS[0].password, '--until', `${cbBase}/`,
    ]);
    const code = new URL(out.final_url).searchParams.get('code');
    assert.ok(code, 'got a code');
    const tok = await tokenRequest(discovery, clients.native, {
      grant_type: 'authorization_code', code, redirect_uri: `${cbBase}/callback`, code_verifier: pkcePair().verifier,
    });
    assert.equal(tok.json.error, 'invalid_grant', JSON.stringify(tok.json));
    for (const client of [clients.native, clients.web]) {
      const u = new URL(authUrl(client, client === clients.native ? `${cbBase}/callback` : `${cbBase}/web/callback`, { state: 's', nonce: 'n', challenge }));
      u.searchParams.delete('code_challenge');
      u.searchParams.delete('code_challenge_method');
      const resp = await fetch(u, { redirect: 'manual' });
      assert.equal(resp.status, 303);
      const loc = new URL(resp.headers.get('location'));
      assert.equal(loc.searchParams.get('error'), 'invalid_request', `${client.client_id}: ${loc}`);
    }
  });

  await check('redirect_uri: loopback port is free only for the native client, path/host must match', async () => {
    const { challenge } = pkcePair();
    const cases = [
      [clients.native, 'http://127.0.0.1:1/callback', true],
      [clients.native, 'http://127.0.0.1:65000/callback', true],
      [clients.native, 'http://127.0.0.1:65000/other', false],
      [clients.native, 'http://localhost:65000/callback', false],
      [clients.web, `${cbBase}/web/callback`, true],
      [clients.web, `http://127.0.0.1:${cb.port === 65001 ? 65002 : 65001}/web/callback`, false],
    ];
    for (const [client, redirectUri, allowed] of cases) {
      const resp = await fetch(authUrl(client, redirectUri, { state: 's', nonce: 'n', challenge }), { redirect: 'manual' });
      if (allowed) {
        assert.equal(resp.status, 303, `${client.client_id} ${redirectUri} should be accepted`);
        assert.match(resp.headers.get('location'), /\/interaction\//);
      } else {
        assert.equal(resp.status, 400, `${client.client_id} ${redirectUri} should be refused`);
        assert.match(await resp.text(), /redirect_uri/);
      }
    }
  });

  for (const [who, password] of [['alice', WRONG_PASSWORD], ['mallory', WRONG_PASSWORD]]) {
    await check(`wrong credentials do not sign in (${who})`, async () => {
      const state = randomToken();
      const { challenge } = pkcePair();
      const out = await browser([
        'login', '--url', authUrl(clients.web, `${cbBase}/web/callback`, { state, nonce: randomToken(), challenge }),
        '--username', who, '--password', password, '--until', `${cbBase}/`,
      ]);
      assert.equal(out.login_error, true, 'login_error');
      assert.equal(out.status, 200, 'login page re-rendered with 200');
      assert.ok(out.body.includes('Invalid username or password'), out.body);
      assert.ok(out.final_url.startsWith(`${issuer}/interaction/`), out.final_url);
      assert.equal(cb.received.has(state), false, 'no redirect to the client');
      assert.equal(out.cookies.some((c) => c.name === '_session'), false, 'no provider session');
    });
  }

  // ---- device authorization grant ----
  const startDevice = async () => {
    const resp = await fetch(discovery.device_authorization_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clients.native.client_id, scope: SCOPE }),
    });
    const json = await resp.json();
    assert.equal(resp.status, 200, JSON.stringify(json));
    for (const k of ['device_code', 'user_code', 'verification_uri', 'verification_uri_complete']) assert.ok(json[k], k);
    return json;
  };
  const pollDevice = (deviceCode) => tokenRequest(discovery, clients.native, {
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode,
  });
  const pollUntilDone = async (deviceCode) => {
    const deadline = Date.now() + 10000;
    for (;;) {
      const r = await pollDevice(deviceCode);
      if (r.json.error !== 'authorization_pending' || Date.now() > deadline) return r;
      await sleep(250);
    }
  };

  const deviceRuns = [
    { label: 'verification_uri_complete', user: USERS[0], typed: false },
    { label: 'verification_uri + typed user code', user: USERS[1], typed: true },
  ];
  for (const run of deviceRuns) {
    await check(`device flow via ${run.label}, user ${run.user.username}`, async () => {
      const dev = await startDevice();
      const pending = await pollDevice(dev.device_code);
      assert.equal(pending.json.error, 'authorization_pending', 'pending before the user acts');
      const args = run.typed
        ? ['--url', dev.verification_uri, '--user-code', dev.user_code]
        : ['--url', dev.verification_uri_complete];
      const out = await browser(['device', ...args, '--username', run.user.username, '--password', run.user.password]);
      assert.equal(out.login_error, false, 'login_error');
      assert.equal(out.device_error, null, 'device_error');
      assert.ok(out.body.includes('Sign-in Success'), out.body);
      const tok = await pollUntilDone(dev.device_code);
      assert.equal(tok.status, 200, JSON.stringify(tok.json));
      verifyIdToken(tok.json.id_token, jwks, {
        issuer, clientId: clients.native.client_id, alg: 'RS256', sub: run.user.username, user: run.user,
      });
    });
  }

  await check('device flow with a wrong password does not sign in', async () => {
    const dev = await startDevice();
    const out = await browser(['device', '--url', dev.verification_uri_complete, '--username', 'alice', '--password', WRONG_PASSWORD]);
    assert.equal(out.login_error, true, 'login_error');
    assert.ok(out.body.includes('Invalid username or password'));
    const r = await pollDevice(dev.device_code);
    assert.equal(r.json.error, 'authorization_pending', JSON.stringify(r.json));
  });

  await check('device flow with a wrong user code reports device_error', async () => {
    const dev = await startDevice();
    const out = await browser(['device', '--url', dev.verification_uri, '--user-code', 'BCDF-GHJK',
      '--username', 'alice', '--password', USERS[0].password]);
    assert.match(out.device_error ?? '', /incorrect/);
    assert.equal(out.login_error, false);
  });

  await check('browser.mjs stops on a provider error page and reports provider_error', async () => {
    const { challenge } = pkcePair();
    const out = await browser([
      'login', '--url', authUrl(clients.web, 'http://127.0.0.1:1/not-registered', { state: 's', nonce: 'n', challenge }),
      '--username', 'alice', '--password', USERS[0].password, '--until', `${cbBase}/`, '--timeout-ms', '15000',
    ]);
    assert.equal(out.status, 400);
    assert.match(out.provider_error ?? '', /redirect_uri/);
    assert.equal(out.login_error, false);
  });

  await check('browser.mjs reports tool errors with a non-zero exit', async () => {
    const r = await runNode([path.join(HERE, 'browser.mjs'), 'login', '--url', issuer]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--username is required/);
  });

  return finish(provider, cb);
}

async function finish(provider, cb, fatal) {
  await check('provider logs one line per request and never a password', async () => {
    assert.match(provider.stderr, /^GET \/auth 303 /m);
    assert.match(provider.stderr, /^POST \/interaction\/[^ ]+\/login 200 /m);
    assert.match(provider.stderr, /^POST \/token 200 /m);
    for (const secret of [...USERS.map((u) => u.password), WRONG_PASSWORD]) {
      assert.equal(provider.stderr.includes(secret), false, 'password in provider log');
    }
    assert.match(provider.stdout, /^READY http:\/\/127\.0\.0\.1:\d+\n$/, 'stdout has only the READY line');
  });
  await check('provider exits 0 on SIGTERM', async () => {
    provider.child.kill('SIGTERM');
    const exit = await Promise.race([provider.exited, sleep(5000).then(() => null)]);
    assert.deepEqual(exit, { code: 0, signal: null });
  });
  cb.server.close();

  const failed = results.filter((r) => !r.ok);
  if (failed.length || fatal) {
    if (fatal) console.log(`FATAL: ${fatal}`);
    console.log('# provider stderr (last 40 lines):');
    console.log(provider.stderr.trim().split('\n').slice(-40).map((l) => `#   ${l}`).join('\n'));
  }
  console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
  return failed.length || fatal ? 1 : 0;
}

process.exitCode = await main();
