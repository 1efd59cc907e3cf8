// A real OpenID Provider (panva/oidc-provider) on 127.0.0.1 for Gatehouse
// integration tests.
//
//   node provider.mjs CONFIG.json
//
// Prints exactly one line "READY http://127.0.0.1:<port>" on stdout once it
// listens, logs one line per HTTP request on stderr, and runs until SIGTERM or
// SIGINT (exit 0). See README.md for the config format and the page selectors.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider from 'oidc-provider';

// oidc-provider prints its notices with console.info/console.log (stdout).
// stdout is reserved for the READY line, so send everything else to stderr.
console.log = console.error;
console.info = console.error;

const ALGS = ['RS256', 'ES256', 'EdDSA'];

function fail(msg) {
  process.stderr.write(`provider.mjs: ${msg}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------- config ---

function loadConfig(path) {
  if (!path) fail('usage: node provider.mjs CONFIG.json');
  let cfg;
  try {
    cfg = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (err) {
    fail(`cannot read config ${path}: ${err.message}`);
  }
  if (!Array.isArray(cfg.clients) || cfg.clients.length === 0) fail('config: "clients" must be a non-empty array');
  if (!Array.isArray(cfg.users)) fail('config: "users" must be an array');
  for (const c of cfg.clients) {
    if (!c.client_id) fail('config: every client needs a client_id');
    const alg = c.id_token_signed_response_alg ?? 'RS256';
    if (!ALGS.includes(alg)) fail(`config: client ${c.client_id}: unsupported id_token_signed_response_alg ${alg}`);
  }
  for (const u of cfg.users) {
    if (!u.username || typeof u.password !== 'string') fail('config: every user needs username and password');
  }
  return cfg;
}

// Map the harness' client entries onto oidc-provider client metadata. Only the
// documented fields are passed through; anything else is ignored.
function clientMetadata(c) {
  const meta = {
    client_id: c.client_id,
    redirect_uris: c.redirect_uris ?? [],
    grant_types: c.grant_types ?? ['authorization_code'],
    response_types: (c.grant_types ?? ['authorization_code']).includes('authorization_code') ? ['code'] : [],
    token_endpoint_auth_method: c.token_endpoint_auth_method ?? (c.client_secret ? 'client_secret_basic' : 'none'),
    application_type: c.application_type ?? 'web',
    id_token_signed_response_alg: c.id_token_signed_response_alg ?? 'RS256',
  };
  if (c.client_secret !== undefined) meta.client_secret = c.client_secret;
  if (c.post_logout_redirect_uris) meta.post_logout_redirect_uris = c.post_logout_redirect_uris;
  return meta;
}

// ------------------------------------------------------------------ keys ---

// One fresh signing key per supported ID token algorithm, each with its own kid.
function generateSigningKeys() {
  const make = (alg, type, options) => {
    const { privateKey } = crypto.generateKeyPairSync(type, options);
    const jwk = privateKey.export({ format: 'jwk' });
    return { ...jwk, kid: `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`, alg, use: 'sig' };
  };
  return [
    make('RS256', 'rsa', { modulusLength: 2048 }),
    make('ES256', 'ec', { namedCurve: 'P-256' }),
    make('EdDSA', 'ed25519'),
  ];
}

// ----------------------------------------------------------------- pages ---

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (ch) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[ch]));

// All pages are self-contained: no external fonts, scripts or styles, so the
// browser never tries to reach anything outside the loopback interface.
// Error pages carry a marker that browser.mjs looks for, so that it can stop
// and report the error instead of waiting for its timeout.
function page(title, bodyHtml, { error = false } = {}) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
${error ? '<meta name="oidc-test-provider-error" content="1">\n' : ''}<title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;max-width:26em;margin:2em auto}input,button{display:block;margin:.4em 0;width:100%}.error{color:#b00}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${bodyHtml}
</body>
</html>
`;
}

function loginPage(uid, { clientId, username = '', error } = {}) {
  return page('Sign in', `
<p>Sign in to continue to <strong id="client-id">${escapeHtml(clientId ?? '')}</strong></p>
${error ? `<p class="error" id="login-error">${escapeHtml(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${encodeURIComponent(uid)}/login" autocomplete="off">
  <label for="username">Username</label>
  <input name="username" id="username" value="${escapeHtml(username)}" autofocus>
  <label for="password">Password</label>
  <input name="password" id="password" type="password">
  <button type="submit" id="submit">Sign in</button>
</form>`);
}

// Device flow pages (oidc-provider renders the forms, we supply the frame).
async function userCodeInputSource(ctx, form, out, err) {
  let msg = '<p>Enter the code displayed on your device</p>';
  if (err && (err.userCode || err.name === 'NoCodeError')) {
    msg = '<p class="error" id="device-error">The code you entered is incorrect. Try again</p>';
  } else if (err && err.name === 'AbortedError') {
    msg = '<p class="error" id="device-error">The Sign-in request was interrupted</p>';
  } else if (err) {
    msg = '<p class="error" id="device-error">There was an error processing your request</p>';
  }
  ctx.body = page('Device sign-in', `${msg}
${form}
<button type="submit" id="device-continue" form="op.deviceInputForm">Continue</button>`);
}

async function userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
  ctx.body = page('Confirm device', `
<p>Client <strong id="client-id">${escapeHtml(client.clientName || client.clientId)}</strong> asks to sign in.</p>
<p>The following code should be displayed on your device: <code id="user-code">${escapeHtml(userCode)}</code></p>
${form}
<button type="submit" id="device-confirm" form="op.deviceConfirmForm">Continue</button>
<button type="submit" id="device-abort" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`);
}

async function successSource(ctx) {
  const { clientId, clientName } = ctx.oidc.client;
  ctx.body = page('Sign-in Success', `
<p id="device-success">Your sign-in with ${escapeHtml(clientName || clientId)} was successful, you can now close this page.</p>`);
}

async function logoutSource(ctx, form) {
  ctx.body = page('Sign out', `${form}
<button type="submit" id="logout-yes" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" id="logout-no" form="op.logoutForm">No, stay signed in</button>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = page('Sign-out Success', '<p id="logout-success">Your sign-out was successful.</p>');
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('Error', Object.entries(out)
    .map(([k, v]) => `<p class="error"><strong>${escapeHtml(k)}</strong>: <span id="${escapeHtml(k)}">${escapeHtml(v)}</span></p>`)
    .join('\n'), { error: true });
}

// ------------------------------------------------------------- provider ---

function buildProvider(issuer, cfg) {
  const users = new Map(cfg.users.map((u) => [u.username, u]));
  const idTokenTtl = Number(cfg.id_token_ttl_seconds ?? 600);

  const configuration = {
    clients: cfg.clients.map(clientMetadata),
    jwks: { keys: generateSigningKeys() },
    enabledJWA: {
      idTokenSigningAlgValues: ALGS,
    },

    // sub = username; claims come straight from the config.
    async findAccount(ctx, sub) {
      const user = users.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          const claims = { sub, preferred_username: sub, groups: [...(user.groups ?? [])] };
          if (user.email !== undefined) {
            claims.email = user.email;
            claims.email_verified = true;
          }
          return claims;
        },
      };
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username'],
      groups: ['groups'],
    },
    // By default (conformIdTokenClaims: true) claims requested via scope go to
    // the userinfo endpoint only, never into the ID token of a code flow. The
    // gateway reads them from the ID token, so put them there.
    conformIdTokenClaims: false,

    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource,
        userCodeConfirmSource,
        successSource,
      },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    // PKCE: S256 only. oidc-provider 8 requires it for every client (public
    // and confidential) by default, which is what we want.
    pkce: { methods: ['S256'] },
    // Authorization code flow only (no implicit / hybrid).
    responseTypes: ['code'],

    // Refresh tokens for every client that registered the refresh_token grant,
    // without the offline_access + prompt=consent dance.
    async issueRefreshToken(ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },

    interactions: {
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },

    // Plain HTTP on loopback: koa's cookie module only adds "Secure" on https
    // requests, and Chromium drops "SameSite=None" cookies that are not Secure,
    // so use Lax (top-level redirects back from the client still carry it).
    cookies: {
      keys: [crypto.randomBytes(32).toString('hex')],
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },

    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 120,
      DeviceCode: 600,
      IdToken: idTokenTtl,
      RefreshToken: 86400,
      Interaction: 3600,
      Session: 86400,
      Grant: 86400,
    },
    clientBasedCORS: () => true,
    renderError,
  };

  return new Provider(issuer, configuration);
}

// ---------------------------------------------------------- interactions ---

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(html);
}

// After a successful login oidc-provider asks for consent; grant everything
// that was requested, without showing a page.
async function autoConsent(provider, req, res, details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const savedId = await grant.save();
  const consent = grantId ? {} : { grantId: savedId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

// Handles GET /interaction/:uid and POST /interaction/:uid/login.
async function handleInteraction(provider, users, req, res, parts) {
  const [uid, action] = parts;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    // Missing/expired interaction cookie and the like.
    sendHtml(res, 400, page('Error', `<p class="error" id="interaction-error">${escapeHtml(err.message)}</p>`, { error: true }));
    return;
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, page('Error', '<p class="error" id="interaction-error">interaction mismatch</p>', { error: true }));
    return;
  }
  const clientId = details.params.client_id;

  if (req.method === 'GET' && action === undefined) {
    if (details.prompt.name === 'login') {
      sendHtml(res, 200, loginPage(uid, { clientId }));
    } else if (details.prompt.name === 'consent') {
      await autoConsent(provider, req, res, details);
    } else {
      sendHtml(res, 500, page('Error', `<p class="error">unsupported prompt ${escapeHtml(details.prompt.name)}</p>`, { error: true }));
    }
    return;
  }

  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    const user = users.get(username);
    const ok = user !== undefined
      && crypto.timingSafeEqual(
        crypto.createHash('sha256').update(password).digest(),
        crypto.createHash('sha256').update(user.password).digest(),
      );
    if (!ok || details.prompt.name !== 'login') {
      sendHtml(res, 200, loginPage(uid, { clientId, username, error: 'Invalid username or password' }));
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: username, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
    return;
  }

  sendHtml(res, 405, page('Error', '<p class="error">method not allowed</p>', { error: true }));
}

// ------------------------------------------------------------------ main ---

async function main() {
  const cfg = loadConfig(process.argv[2]);
  const users = new Map(cfg.users.map((u) => [u.username, u]));

  // Listen first: the issuer URL needs the port, which may be chosen by the OS.
  let handler = (req, res) => { res.statusCode = 503; res.end(); };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(cfg.port ?? 0), '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const provider = buildProvider(issuer, cfg);
  provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));
  const providerCallback = provider.callback();

  handler = (req, res) => {
    const started = Date.now();
    // One log line per request: method, path (no query string, which may
    // carry codes), status. Bodies (passwords) are never logged.
    res.on('finish', () => {
      const path = (req.url ?? '').split('?')[0];
      process.stderr.write(`${req.method} ${path} ${res.statusCode} ${Date.now() - started}ms\n`);
    });
    const path = new URL(req.url, issuer).pathname;
    const m = /^\/interaction\/([^/]+)(?:\/([^/]+))?\/?$/.exec(path);
    if (m) {
      handleInteraction(provider, users, req, res, [m[1], m[2]]).catch((err) => {
        process.stderr.write(`interaction error: ${err.stack}\n`);
        if (!res.headersSent) sendHtml(res, 500, page('Error', `<p class="error">${escapeHtml(err.message)}</p>`, { error: true }));
        else res.end();
      });
      return;
    }
    providerCallback(req, res);
  };

  const shutdown = (signal) => {
    process.stderr.write(`provider.mjs: ${signal}, shutting down\n`);
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  process.stdout.write(`READY ${issuer}\n`);
}

main().catch((err) => fail(err.stack ?? String(err)));
