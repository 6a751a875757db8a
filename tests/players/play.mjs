#!/usr/bin/env node
// Plays one stream in a real player in headless Debian Chromium and reports what happened.
//
//   node play.mjs --player hlsjs|shaka|shaka4|dashjs --url <manifest URL> [--seconds 6]
//                 [--timeout 60] [--switch-audio] [--clearkey KIDHEX:KEYHEX]... [--mss-clearkey]
//                 [--players-dir DIR] [--chromium /usr/bin/chromium]
//
// Chromium (the Debian package, never a downloaded browser) is driven by playwright-core. The
// page and the player library are served from a throw-away HTTP server on 127.0.0.1 (random
// port), so the manifest is fetched cross-origin as a real player page would. Success: the
// playhead advanced by at least --seconds, then after a seek to END_SECONDS before the end the
// media played to its end ('ended'), with no player error (fatal or recovered, see isFailure),
// no media-element error, no uncaught page exception, no console error and no HTTP error seen
// by the page. Prints one JSON line and exits 0 on success, 1 on failure, 2 on a usage or
// set-up error.
//
// Players: hlsjs (hls.js), shaka (Shaka Player 5), shaka4 (Shaka Player 4.16 LTS, the last line
// with Smooth Streaming: 5.0 removed it), dashjs (dash.js with its separately built Smooth
// module, so it plays DASH and Smooth).
//
// --switch-audio (hls.js): once the playhead has advanced --seconds, switch to the second audio
// track (hls.audioTrack = 1); success then also needs hls.js to confirm the switch, at least one
// fragment of that track buffered, and the playhead to advance SWITCH_SECONDS more.
//
// --clearkey KIDHEX:KEYHEX (repeatable; 32 hex digits each): ClearKey keys for EME, given to the
// player as it takes them: Shaka `drm.clearKeys` {kidHex: keyHex}, dash.js `setProtectionData`
// {"org.w3.clearkey": {clearkeys: {kid_b64url: key_b64url}}}. hls.js takes none (AES-128 and
// SAMPLE-AES TS: it fetches the key URI itself). Chromium's ClearKey CDM renders no pixels a
// page can read, so encrypted runs are judged by the same rules (frames decoded, no error).
// The result reports the 'encrypted' events the media element saw (`encryptedEvents`) and the
// requests to key URLs (`keyRequests`, paths containing /key/), so a test can tell that
// decryption was really involved.
//
// --mss-clearkey (dash.js only): dash.js's Smooth module signals only PlayReady and Widevine
// for a protected Smooth stream; with this flag the page gets a copy of dash.mss.min.js whose
// Widevine ContentProtection names the ClearKey system instead (urn:uuid:e2719d58-…), made in
// memory at each run (test-only; nothing is written or shipped), so Chromium's ClearKey CDM
// decrypts the PIFF fragments with the --clearkey keys. Fails as a set-up error when the
// library no longer has exactly one such string.
//
// npm packages come from DIR/node_modules, DIR being --players-dir, else $VODPACK_PLAYERS_DIR,
// else what `scripts/install-players --print-dir` names (run scripts/install-players first).

import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// Media seconds the playhead must advance after an audio switch.
const SWITCH_SECONDS = 2;
// After the first phase the harness seeks to this many seconds before the end (or 3 s back when
// the playhead is already past that point); the media must then play to its end.
const END_SECONDS = 3.5;

// Errors that fail a run: every error a player reports, fatal or recovered from (a retried
// download, a recoverable Shaka error, an hls.js media error), except these hls.js media errors
// that describe normal streams:
// - bufferStalledError / bufferNudgeOnStall: playback running behind on a slow machine;
// - bufferSeekOverHole before the first second: the start gap every B-frame stream has (video
//   starts at its first presentation time, a frame or two after audio; hls.js jumps it). A hole
//   later in the timeline is a packaging bug and fails.
// - bufferAppendNoProgress for a fragment whose whole time range was buffered at some point of
//   the run (checked at the end, `final`; until then it is not held against the run). hls.js 1.7.4 reports it falsely for
//   the first fragment of an alternate audio rendition in TS: when the video and audio appends
//   finish together, the promise that steps its operation queues sees the audio SourceBuffer no
//   longer updating before its 'updateend' fired, shifts the audio media append off the queue
//   unfinished and runs the fragment's progress check after the init segment alone. The media
//   append then lands (e.g. audio 0.016-2.085 s). A fragment that really never buffers leaves
//   its range uncovered and fails.
// Console errors, uncaught page exceptions and HTTP errors (any 4xx/5xx answer, any failed
// request other than one the player aborted) fail the run as well; see the main loop.
function isFailure(e, final = false) {
  if (e.fatal) return true;
  if (e.source !== 'hls.js' || e.type !== 'mediaError') return true;
  if (e.details === 'bufferStalledError' || e.details === 'bufferNudgeOnStall') return false;
  if (e.details === 'bufferSeekOverHole' && e.at < 1) return false;
  if (e.details === 'bufferAppendNoProgress' && e.where) {
    return final && !(e.where.coveredSeconds >= e.where.duration - 0.15);
  }
  return true;
}

function parseArgs(argv) {
  const a = { seconds: 6, timeout: 60, chromium: process.env.VODPACK_CHROMIUM || '/usr/bin/chromium', clearkeys: {} };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    switch (k) {
      case '--player': a.player = v; i++; break;
      case '--url': a.url = v; i++; break;
      case '--seconds': a.seconds = Number(v); i++; break;
      case '--timeout': a.timeout = Number(v); i++; break;
      case '--players-dir': a.playersDir = v; i++; break;
      case '--chromium': a.chromium = v; i++; break;
      case '--switch-audio': a.switchAudio = true; break;
      case '--mss-clearkey': a.mssClearkey = true; break;
      case '--clearkey': {
        const m = /^([0-9a-fA-F]{32}):([0-9a-fA-F]{32})$/.exec(v || '');
        if (!m) usage('--clearkey takes KIDHEX:KEYHEX (32 hex digits each)');
        a.clearkeys[m[1].toLowerCase()] = m[2].toLowerCase();
        i++;
        break;
      }
      default: usage(`unknown argument ${k}`);
    }
  }
  if (!['hlsjs', 'shaka', 'shaka4', 'dashjs'].includes(a.player)) usage('--player must be hlsjs, shaka, shaka4 or dashjs');
  if (a.switchAudio && a.player !== 'hlsjs') usage('--switch-audio is implemented for hlsjs only');
  if (!a.url) usage('--url is required');
  if (a.mssClearkey && a.player !== 'dashjs') usage('--mss-clearkey is for dashjs only');
  if (Object.keys(a.clearkeys).length && a.player === 'hlsjs') usage('hls.js takes no --clearkey (it fetches key URIs)');
  if (!(a.seconds > 0) || !(a.timeout > 0)) usage('--seconds and --timeout must be positive');
  return a;
}

function usage(msg) {
  console.error(`play.mjs: ${msg}\nusage: node play.mjs --player hlsjs|shaka|shaka4|dashjs --url URL [--seconds 6] [--timeout 60] [--switch-audio] [--clearkey KIDHEX:KEYHEX]... [--mss-clearkey] [--players-dir DIR] [--chromium PATH]`);
  process.exit(2);
}

function setupError(result, msg) {
  result.ok = false;
  result.errors.push({ source: 'harness', fatal: true, message: msg });
  console.log(JSON.stringify(result));
  process.exit(2);
}

const args = parseArgs(process.argv.slice(2));
const result = { player: args.player, url: args.url, ok: false, advanced: 0, errors: [] };

const playersDir =
  args.playersDir ||
  process.env.VODPACK_PLAYERS_DIR ||
  execFileSync(path.join(here, '../../scripts/install-players'), ['--print-dir'], { encoding: 'utf8' }).trim();
const modules = path.join(playersDir, 'node_modules');
if (!existsSync(path.join(modules, 'playwright-core'))) {
  setupError(result, `no node modules in ${modules}: run scripts/install-players`);
}
if (!existsSync(args.chromium)) {
  setupError(result, `no Chromium at ${args.chromium}: run scripts/install-players (Debian package chromium)`);
}
const require = createRequire(path.join(modules, 'noop.js'));
const { chromium } = require('playwright-core');

// The player libraries (loaded in this order), the page and its harness script, by URL path.
const LIBS = {
  hlsjs: ['hls.js/dist/hls.min.js'],
  // dash.js 5 builds Smooth support as a separate module that registers dashjs.MssHandler.
  dashjs: ['dashjs/dist/modern/umd/dash.all.min.js', 'dashjs/dist/modern/umd/dash.mss.min.js'],
  shaka: ['shaka-player/dist/shaka-player.compiled.js'],
  // npm alias of shaka-player@4.16 (package.json); its compiled build has the MSS parser, whose
  // fragment transmuxer needs codem-isoboxer loaded first (window.ISOBoxer).
  shaka4: ['codem-isoboxer/dist/iso_boxer.min.js', 'shaka-player-4/dist/shaka-player.compiled.js'],
};
const libs = LIBS[args.player];
const files = {
  '/': {
    type: 'text/html; charset=utf-8',
    body: `<!doctype html><html><head><meta charset="utf-8"><title>vodpack ${args.player}</title>
<link rel="icon" href="data:,"></head><body>
<video id="video" muted autoplay playsinline width="640" height="360"></video>
${libs.map((_, i) => `<script src="/player${i}.js"></script>`).join('')}<script src="/page.js"></script></body></html>`,
  },
  '/page.js': { type: 'text/javascript', body: readFileSync(path.join(here, 'page.js')) },
};
// dash.js's Smooth module, Widevine → ClearKey in its ContentProtection (see --mss-clearkey).
const WIDEVINE_SCHEME = 'schemeIdUri:"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"';
const CLEARKEY_SCHEME = 'schemeIdUri:"urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"';
libs.forEach((lib, i) => {
  let body = readFileSync(path.join(modules, lib));
  if (args.mssClearkey && lib.endsWith('/dash.mss.min.js')) {
    const text = body.toString('utf8');
    const n = text.split(WIDEVINE_SCHEME).length - 1;
    if (n !== 1) setupError(result, `--mss-clearkey: ${lib} has ${n} copies of ${WIDEVINE_SCHEME}, not 1`);
    body = text.replace(WIDEVINE_SCHEME, CLEARKEY_SCHEME);
  }
  files[`/player${i}.js`] = { type: 'text/javascript', body };
});
const server = http.createServer((req, res) => {
  const f = files[new URL(req.url, 'http://x').pathname];
  if (!f) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' }).end(f.body);
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const pageUrl = `http://127.0.0.1:${server.address().port}/`;

const flags = [
  '--autoplay-policy=no-user-gesture-required',
  '--mute-audio',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];
if (process.getuid && process.getuid() === 0) flags.push('--no-sandbox');

let browser;
const finish = async (code) => {
  try {
    if (browser) await browser.close();
  } catch (_) {
    /* already gone */
  }
  server.close();
  console.log(JSON.stringify(result));
  process.exit(code);
};
const hardStop = setTimeout(() => {
  result.errors.push({ source: 'harness', fatal: true, message: `hard timeout after ${args.timeout + 30} s` });
  finish(1);
}, (args.timeout + 30) * 1000);
hardStop.unref();

try {
  browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: flags, timeout: 30000 });
  result.browser = browser.version();
  const page = await browser.newPage();
  const consoleErrors = [];
  const pageErrors = [];
  const httpErrors = [];
  // Requests the player itself cancelled (a seek or a rendition switch abandons a download in
  // flight): reported, not failures. Every other failed request and every 4xx/5xx answer fails.
  const aborted = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text().slice(0, 500));
  });
  page.on('pageerror', (e) => pageErrors.push(String(e && e.message ? e.message : e).slice(0, 500)));
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText;
    (why === 'net::ERR_ABORTED' ? aborted : httpErrors).push(`${r.method()} ${r.url()}: ${why}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) httpErrors.push(`${r.request().method()} ${r.url()}: HTTP ${r.status()}`);
  });
  await page.goto(pageUrl);
  const codecs = await page.evaluate(() => window.__vp.codecs);
  result.codecs = codecs;
  if (!codecs.h264_high || !codecs.aac_lc) {
    result.errors.push({
      source: 'harness',
      fatal: true,
      message: `this Chromium cannot play H.264/AAC through MediaSource (${JSON.stringify(codecs)}); it needs a build with proprietary codecs`,
    });
    await finish(1);
  }
  const keyRequests = [];
  page.on('request', (r) => {
    if (/\/key\//.test(new URL(r.url()).pathname)) keyRequests.push(r.url());
  });
  await page.evaluate(([p, u, k]) => window.__start(p, u, k), [args.player, args.url, args.clearkeys]);

  const t0 = Date.now();
  let start = null; // playhead when it first moved off its load position
  let switchAt = null; // playhead when the audio switch was requested
  let switchDone = false; // the switch is confirmed and a fragment of the new track buffered
  let seek = null; // {from, to, at}: the seek made once the first phase is done
  let ended = false; // the media element reached the end after the seek
  let harnessFailure = null;
  let last;
  for (;;) {
    last = await page.evaluate(() => window.__sample());
    if (start === null && last.readyState >= 2) start = last.currentTime;
    const advanced = start === null ? 0 : last.currentTime - start;
    // Anything that fails the run stops it at once: a player error (fatal or not, see
    // isFailure), a media-element error, an uncaught exception, a console error, an HTTP error.
    const failing =
      last.vp.errors.some((e) => isFailure(e)) ||
      last.vp.loadError ||
      last.vp.playError ||
      last.videoError ||
      pageErrors.length ||
      consoleErrors.length ||
      httpErrors.length;
    if (failing) break;
    // dash.js sometimes stops at the very end with the element paused and `ended` never set
    // (seen under load with a COMPACT MPD): a playhead at the duration after the seek counts
    // as played to the end; anything short of it still fails.
    const atEnd =
      seek && last.paused && Number.isFinite(last.duration) && last.currentTime >= last.duration - 0.05;
    if (last.ended || atEnd) {
      if (seek) {
        ended = true;
      } else {
        harnessFailure = `the media ended after ${advanced.toFixed(2)} s, before the seek`;
      }
      break;
    }
    if (advanced >= args.seconds && args.switchAudio && switchAt === null) {
      switchAt = last.currentTime;
      const refused = await page.evaluate(() => window.__switchAudio(1));
      if (refused) {
        harnessFailure = `audio switch: ${refused}`;
        break;
      }
    }
    const s = last.vp.audioSwitch;
    switchDone = !!(s && s.switched && s.fragmentsBuffered > 0);
    const firstPhaseDone =
      advanced >= args.seconds && (!args.switchAudio || (switchAt !== null && switchDone && last.currentTime - switchAt >= SWITCH_SECONDS));
    if (firstPhaseDone && !seek) {
      // Seek to END_SECONDS before the end (forward, into a segment not played yet), or back
      // when the playhead is already there; then the media must play to its end.
      if (!Number.isFinite(last.duration) || last.duration <= 0) {
        harnessFailure = `no finite duration to seek in (${last.duration})`;
        break;
      }
      let to = last.duration - END_SECONDS;
      if (to < last.currentTime + 1) to = Math.max(0, last.currentTime - 3);
      seek = { from: Number(last.currentTime.toFixed(3)), to: Number(to.toFixed(3)), at: (Date.now() - t0) / 1000 };
      await page.evaluate((t) => window.__seek(t), to);
    }
    if (Date.now() - t0 > args.timeout * 1000) {
      const after = switchAt === null ? '' : `; after the audio switch ${(last.currentTime - switchAt).toFixed(2)} s of ${SWITCH_SECONDS} s, ${JSON.stringify(s)}`;
      const phase = seek
        ? `after seeking from ${seek.from} s to ${seek.to} s the playhead is at ${last.currentTime.toFixed(2)} s of ${last.duration} s, not ended`
        : `playhead advanced ${advanced.toFixed(2)} s of ${args.seconds} s`;
      harnessFailure = `${phase} in ${args.timeout} s (readyState ${last.readyState}, paused ${last.paused})${after}`;
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  result.advanced = Number((start === null ? 0 : last.currentTime - start).toFixed(3));
  result.wallSeconds = Number(((Date.now() - t0) / 1000).toFixed(2));
  result.version = last.vp.version;
  result.seek = seek;
  result.ended = ended;
  result.endTime = Number(last.currentTime.toFixed(3));
  result.errors.push(...last.vp.errors);
  if (harnessFailure) result.errors.push({ source: 'harness', fatal: true, message: harnessFailure });
  if (last.vp.loadError) result.errors.push({ source: args.player, fatal: true, type: 'load', message: last.vp.loadError });
  if (last.vp.playError) result.errors.push({ source: 'video.play()', fatal: true, message: last.vp.playError });
  for (const m of pageErrors) result.errors.push({ source: 'pageerror', fatal: true, message: m });
  result.consoleErrors = consoleErrors;
  result.httpErrors = httpErrors;
  result.aborted = aborted;
  result.keyRequests = keyRequests;
  result.encryptedEvents = last.vp.encryptedEvents;
  result.waitingForKey = last.vp.waitingForKey;
  result.videoError = last.videoError;
  result.decodedFrames = last.decodedFrames;
  result.droppedFrames = last.droppedFrames;
  result.width = last.width;
  result.height = last.height;
  result.resolutions = last.vp.resolutions;
  result.duration = last.duration;
  if (args.switchAudio) {
    result.audioSwitch = last.vp.audioSwitch;
    if (result.audioSwitch && switchAt !== null) {
      result.audioSwitch.advancedAfter = Number((last.currentTime - switchAt).toFixed(3));
    }
  }
  result.ok =
    result.advanced >= args.seconds &&
    ended &&
    !harnessFailure &&
    !result.errors.some((e) => isFailure(e, true)) &&
    consoleErrors.length === 0 &&
    httpErrors.length === 0 &&
    !last.videoError &&
    last.decodedFrames > 0;
  await finish(result.ok ? 0 : 1);
} catch (e) {
  result.errors.push({ source: 'harness', fatal: true, message: String(e && e.stack ? e.stack : e).slice(0, 2000) });
  await finish(1);
}
