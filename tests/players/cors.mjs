#!/usr/bin/env node
// A cross-origin fetch of one egress URL from a page in headless Debian Chromium, as a browser
// player does it, and what the page could read of the answer.
//
//   node cors.mjs --url <egress URL> [--header NAME=VALUE]... [--players-dir DIR]
//                 [--chromium /usr/bin/chromium]
//
// The page comes from a throw-away HTTP server on 127.0.0.1 (random port: another origin than
// the egress URL's), and runs fetch(url, {headers}). Any header beyond the CORS-safelisted ones
// makes Chromium send an OPTIONS preflight first; the fetch fails unless that preflight allows
// the method and every header. Prints one JSON line: {ok, status, contentRange, etag,
// contentLength, bytes, error, consoleErrors, origin}. Exits 0 when the fetch completed (whatever
// its status), 1 when it failed, 2 on a usage or set-up error.
//
// npm packages (playwright-core) come from DIR/node_modules as for play.mjs.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const a = { headers: {}, chromium: process.env.VODPACK_CHROMIUM || '/usr/bin/chromium' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const v = argv[i + 1];
  switch (argv[i]) {
    case '--url': a.url = v; i++; break;
    case '--header': {
      const at = (v || '').indexOf('=');
      if (at < 1) usage(`--header needs NAME=VALUE, not ${v}`);
      a.headers[v.slice(0, at)] = v.slice(at + 1);
      i++;
      break;
    }
    case '--players-dir': a.playersDir = v; i++; break;
    case '--chromium': a.chromium = v; i++; break;
    default: usage(`unknown argument ${argv[i]}`);
  }
}
if (!a.url) usage('--url is required');

function usage(msg) {
  console.error(`cors.mjs: ${msg}`);
  process.exit(2);
}

const result = { ok: false, url: a.url };
function setupError(msg) {
  result.error = msg;
  console.log(JSON.stringify(result));
  process.exit(2);
}

const playersDir =
  a.playersDir ||
  process.env.VODPACK_PLAYERS_DIR ||
  execFileSync(path.join(here, '../../scripts/install-players'), ['--print-dir'], { encoding: 'utf8' }).trim();
const modules = path.join(playersDir, 'node_modules');
if (!existsSync(path.join(modules, 'playwright-core'))) setupError(`no node modules in ${modules}: run scripts/install-players`);
if (!existsSync(a.chromium)) setupError(`no Chromium at ${a.chromium}: run scripts/install-players`);
const require = createRequire(path.join(modules, 'noop.js'));
const { chromium } = require('playwright-core');

const server = http.createServer((req, res) => {
  res
    .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    .end('<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body>cors</body></html>');
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
result.origin = `http://127.0.0.1:${server.address().port}`;

const flags = ['--disable-dev-shm-usage', '--no-first-run'];
if (process.getuid && process.getuid() === 0) flags.push('--no-sandbox');
let browser;
let code = 1;
try {
  browser = await chromium.launch({ executablePath: a.chromium, headless: true, args: flags, timeout: 30000 });
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text().slice(0, 500));
  });
  await page.goto(`${result.origin}/`);
  const got = await page.evaluate(
    async ([url, headers]) => {
      try {
        const r = await fetch(url, { headers, mode: 'cors', cache: 'no-store' });
        const body = await r.arrayBuffer();
        return {
          fetched: true,
          status: r.status,
          contentRange: r.headers.get('content-range'),
          etag: r.headers.get('etag'),
          contentLength: r.headers.get('content-length'),
          bytes: body.byteLength,
        };
      } catch (e) {
        return { fetched: false, error: String(e && e.message ? e.message : e) };
      }
    },
    [a.url, a.headers],
  );
  Object.assign(result, got);
  result.consoleErrors = consoleErrors;
  result.ok = got.fetched;
  code = got.fetched ? 0 : 1;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
  code = 2;
}
try {
  if (browser) await browser.close();
} catch (_) {
  /* already gone */
}
server.close();
console.log(JSON.stringify(result));
process.exit(code);
