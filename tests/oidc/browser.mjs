// Drives a real headless Chromium (playwright-core, system browser) through an
// OpenID Connect sign-in for Gatehouse integration tests.
//
//   node browser.mjs login  --url URL --username U --password P --until PREFIX
//                           [--fetch URL]... [--timeout-ms N] [--allow-host H]...
//   node browser.mjs device --url VERIFICATION_URI_COMPLETE --username U --password P
//   node browser.mjs device --url VERIFICATION_URI --user-code CODE --username U --password P
//
// Prints one JSON object on stdout and exits 0 whenever the run completed
// (also when the sign-in was refused: the caller asserts). Tool failures
// (bad arguments, browser does not start, timeout) exit non-zero with a
// message on stderr. See README.md.

import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const LOGIN_ERROR_TEXT = 'Invalid username or password';
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

class ToolError extends Error {}

function usage(msg) {
  throw new ToolError(`${msg}
usage: node browser.mjs login  --url URL --username U --password P --until PREFIX [--fetch URL]... [--timeout-ms N]
       node browser.mjs device --url URL [--user-code CODE] --username U --password P [--timeout-ms N]`);
}

function parseCli(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        username: { type: 'string' },
        password: { type: 'string' },
        until: { type: 'string' },
        fetch: { type: 'string', multiple: true },
        'user-code': { type: 'string' },
        'timeout-ms': { type: 'string' },
        'allow-host': { type: 'string', multiple: true },
      },
    });
  } catch (err) {
    usage(err.message);
  }
  const { positionals, values } = parsed;
  const mode = positionals[0];
  if (positionals.length !== 1 || !['login', 'device'].includes(mode)) usage('expected exactly one command: login or device');
  for (const name of ['url', 'username', 'password']) {
    if (values[name] === undefined) usage(`--${name} is required`);
  }
  if (mode === 'login' && values.until === undefined) usage('--until is required for login');
  const timeoutMs = Number(values['timeout-ms'] ?? 20000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) usage('--timeout-ms must be a positive number');
  return {
    mode,
    url: values.url,
    username: values.username,
    password: values.password,
    until: values.until,
    fetches: values.fetch ?? [],
    userCode: values['user-code'],
    timeoutMs,
    allowHosts: new Set(values['allow-host'] ?? []),
  };
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// What is on the page right now. Evaluated in the page; returns null while a
// navigation is in progress (the execution context goes away under us).
async function pageState(page) {
  try {
    return await page.evaluate((loginErrorText) => {
      const has = (sel) => document.querySelector(sel) !== null;
      return {
        loginForm: has('input#username') && has('input#password'),
        loginError: document.body !== null && document.body.innerText.includes(loginErrorText),
        codeInput: has('form[id="op.deviceInputForm"] input[name="user_code"]'),
        codeConfirm: has('form[id="op.deviceConfirmForm"]'),
        deviceError: document.querySelector('#device-error')?.innerText ?? null,
        deviceSuccess: has('#device-success'),
        // provider.mjs marks its error pages (bad redirect_uri, server_error...).
        providerError: has('meta[name="oidc-test-provider-error"]') && document.body !== null
          ? document.body.innerText.trim()
          : null,
      };
    }, LOGIN_ERROR_TEXT);
  } catch {
    return null;
  }
}

async function run(opts) {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  // Keep the browser on this machine: host names other than localhost (and
  // any --allow-host) do not resolve, and requests to non-loopback hosts are
  // aborted. Tests only ever talk to 127.0.0.1.
  const resolverRules = ['MAP * ~NOTFOUND', 'EXCLUDE localhost', 'EXCLUDE 127.*', 'EXCLUDE [::1]', ...[...opts.allowHosts].map((h) => `EXCLUDE ${h}`)];
  let browser;
  try {
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', `--host-resolver-rules=${resolverRules.join(', ')}`],
      timeout: opts.timeoutMs,
    });
  } catch (err) {
    throw new ToolError(`cannot start Chromium at ${executablePath}: ${err.message}`);
  }

  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    await context.route('**/*', (route) => {
      const { hostname } = new URL(route.request().url());
      if (LOOPBACK_HOSTS.has(hostname) || opts.allowHosts.has(hostname) || /^127\./.test(hostname)) {
        return route.continue();
      }
      return route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    page.setDefaultTimeout(opts.timeoutMs);

    // Track the main frame's navigations: the HTTP status of the last one, and
    // the URL of a navigation that failed (page.url() then is chrome-error://).
    let lastStatus = null;
    let failedNav = null;
    page.on('response', (resp) => {
      const req = resp.request();
      if (req.isNavigationRequest() && req.frame() === page.mainFrame()) {
        lastStatus = resp.status();
        failedNav = null;
      }
    });
    page.on('requestfailed', (req) => {
      const error = req.failure()?.errorText ?? 'failed';
      // ERR_ABORTED: superseded by another navigation, not a real failure.
      if (req.isNavigationRequest() && req.frame() === page.mainFrame() && !error.includes('ERR_ABORTED')) {
        failedNav = { url: req.url(), error };
        lastStatus = null;
      }
    });
    const currentUrl = () => (failedNav ? failedNav.url : page.url());

    const deadline = Date.now() + opts.timeoutMs;
    try {
      await page.goto(opts.url, { waitUntil: 'commit', timeout: opts.timeoutMs });
    } catch (err) {
      // A refused connection etc. is reported via failedNav, not as a tool error.
      if (!failedNav) throw new ToolError(`cannot open ${opts.url}: ${err.message}`);
    }

    let loginSubmitted = false;
    let codeSubmitted = false;
    let confirmClicked = false;
    let loginError = false;
    let deviceError = null;
    let providerError = null;

    // Poll the page and act on what is shown, until the goal is reached or
    // sign-in failed. Each form is submitted at most once.
    for (;;) {
      if (Date.now() > deadline) {
        let body = '';
        try { body = (await page.innerText('body', { timeout: 1000 })).slice(0, 500); } catch { /* ignore */ }
        throw new ToolError(`timeout after ${opts.timeoutMs} ms at ${currentUrl()}${body ? `; page text: ${JSON.stringify(body)}` : ''}`);
      }
      if (opts.mode === 'login' && currentUrl().startsWith(opts.until)) break;
      // A failed navigation (e.g. connection refused) will not go anywhere.
      if (failedNav) break;

      const state = await pageState(page);
      if (state === null) {
        await sleep(50);
        continue;
      }
      if (opts.mode === 'device' && state.deviceSuccess) break;
      if (state.providerError !== null) {
        providerError = state.providerError;
        break;
      }

      if (state.loginForm) {
        if (!loginSubmitted) {
          loginSubmitted = true;
          await page.fill('#username', opts.username);
          await page.fill('#password', opts.password);
          await page.click('#submit', { noWaitAfter: true });
        } else if (state.loginError) {
          loginError = true;
          break;
        }
      } else if (state.codeInput && opts.mode === 'device') {
        if (state.deviceError) {
          deviceError = state.deviceError;
          break;
        }
        if (!codeSubmitted) {
          if (opts.userCode === undefined) throw new ToolError('the user code input page is shown but no --user-code was given');
          codeSubmitted = true;
          await page.fill('form[id="op.deviceInputForm"] input[name="user_code"]', opts.userCode);
          await page.click('button[type="submit"][form="op.deviceInputForm"]', { noWaitAfter: true });
        }
      } else if (state.codeConfirm && opts.mode === 'device' && !confirmClicked) {
        confirmClicked = true;
        await page.click('button[type="submit"][form="op.deviceConfirmForm"]:not([name="abort"])', { noWaitAfter: true });
      }
      await sleep(50);
    }

    // Let the final page finish loading before reading it.
    try {
      await page.waitForLoadState('load', { timeout: Math.max(1000, deadline - Date.now()) });
    } catch { /* reported through body/status */ }

    let body = '';
    try { body = await page.innerText('body', { timeout: 2000 }); } catch { /* e.g. failed navigation */ }

    const result = {
      final_url: currentUrl(),
      status: lastStatus,
      body,
      login_error: loginError,
      provider_error: providerError,
    };
    if (failedNav) result.navigation_error = failedNav.error;

    if (opts.mode === 'device') {
      result.device_error = deviceError;
      return result;
    }

    result.cookies = (await context.cookies()).map((c) => ({
      name: c.name,
      domain: c.domain,
      path: c.path,
      httpOnly: c.httpOnly,
      secure: c.secure,
      sameSite: c.sameSite,
      expires: c.expires,
    }));

    // fetch() from inside the page, so the browser attaches its cookies.
    result.fetches = [];
    for (const url of opts.fetches) {
      try {
        result.fetches.push({
          url,
          ...await page.evaluate(async (u) => {
            const resp = await fetch(u, { credentials: 'include' });
            return { status: resp.status, body: await resp.text() };
          }, url),
        });
      } catch (err) {
        result.fetches.push({ url, status: null, body: null, error: err.message.split('\n')[0] });
      }
    }
    return result;
  } finally {
    await browser.close().catch(() => {});
  }
}

async function main() {
  try {
    const opts = parseCli(process.argv.slice(2));
    const result = await run(opts);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`browser.mjs: ${err instanceof ToolError ? err.message : err.stack}\n`);
    return 2;
  }
}

process.exitCode = await main();
