// Runs inside the page (served by play.mjs next to the player library): attaches one player to a
// muted <video>, starts playback without a user gesture, and records what happens in
// window.__vp, which play.mjs polls.
'use strict';

(function () {
  const vp = (window.__vp = {
    started: false,
    loadError: null,
    playError: null,
    // Player-reported errors: {source, fatal, type, details, message}.
    errors: [],
    // Resolutions seen through the video element's 'resize' events ("640x360").
    resolutions: [],
    events: [],
    codecs: {},
    version: null,
    // Audio track switch (--switch-audio): what was asked, what the player confirmed, and the
    // media fragments of the new track buffered since.
    audioSwitch: null,
    // EME: 'encrypted' events (init data type) and 'waitingforkey' events of the media element.
    encryptedEvents: [],
    waitingForKey: 0,
  });

  const CODECS = {
    h264_high: 'video/mp4; codecs="avc1.64001f"',
    h264_main: 'video/mp4; codecs="avc1.4d401e"',
    aac_lc: 'audio/mp4; codecs="mp4a.40.2"',
    h264_aac: 'video/mp4; codecs="avc1.64001f,mp4a.40.2"',
    ts_h264_aac: 'video/mp2t; codecs="avc1.64001f,mp4a.40.2"',
  };
  for (const [k, t] of Object.entries(CODECS)) {
    vp.codecs[k] = !!(window.MediaSource && MediaSource.isTypeSupported(t));
  }

  function describe(e) {
    if (e === null || e === undefined) return String(e);
    if (typeof e === 'string') return e;
    if (e.message) return String(e.message);
    try {
      return JSON.stringify(e).slice(0, 500);
    } catch (_) {
      return String(e);
    }
  }

  const video = document.getElementById('video');

  function record(source, fatal, type, details, message, where) {
    const e = {
      source,
      fatal: !!fatal,
      type: type ?? null,
      details: details ?? null,
      message: message ?? null,
      at: Number(video.currentTime.toFixed(3)),
    };
    if (where) e.where = where;
    vp.errors.push(e);
  }

  // The buffered ranges of the video element and of each SourceBuffer, as "start-end" strings.
  function ranges(r) {
    const out = [];
    for (let i = 0; i < r.length; i++) out.push(`${r.start(i).toFixed(3)}-${r.end(i).toFixed(3)}`);
    return out;
  }

  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  video.addEventListener('error', () => {
    const e = video.error;
    record('video', true, 'MEDIA_ELEMENT_ERROR', e ? `code ${e.code}` : null, e ? e.message : null);
  });
  video.addEventListener('resize', () => {
    const r = `${video.videoWidth}x${video.videoHeight}`;
    if (vp.resolutions[vp.resolutions.length - 1] !== r) vp.resolutions.push(r);
  });
  video.addEventListener('encrypted', (e) => vp.encryptedEvents.push(e.initDataType));
  video.addEventListener('waitingforkey', () => vp.waitingForKey++);
  for (const ev of ['loadedmetadata', 'playing', 'waiting', 'stalled', 'seeking', 'seeked', 'ended']) {
    video.addEventListener(ev, () => vp.events.push({ ev, t: video.currentTime }));
  }

  function play() {
    const p = video.play();
    if (p && p.catch) {
      p.catch((e) => {
        // An interrupted play() (e.g. by a load) is retried by the players; an autoplay refusal
        // (NotAllowedError) is a harness failure worth reporting.
        if (e && e.name === 'NotAllowedError') vp.playError = `${e.name}: ${e.message}`;
      });
    }
  }

  function startHlsjs(url) {
    if (!window.Hls || !Hls.isSupported()) throw new Error('hls.js: MediaSource playback not supported');
    vp.version = Hls.version;
    const hls = new Hls({ debug: false, enableWorker: true });
    window.__player = hls;
    hls.on(Hls.Events.ERROR, (_, d) => {
      // Which fragment (type level/sn and its timeline) and what was buffered at the time.
      const f = d.frag;
      const where = f ? { frag: `${f.type} ${f.level}/${f.sn}`, start: f.start, duration: f.duration } : null;
      if (where && hls.media) where.buffered = ranges(hls.media.buffered);
      record('hls.js', d.fatal, d.type, d.details, d.error ? describe(d.error) : d.reason || null, where);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, play);
    hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, (_, d) => {
      const s = vp.audioSwitch;
      if (s && d.id === s.to) s.switched = { id: d.id, name: d.name, lang: d.lang || null };
    });
    hls.on(Hls.Events.FRAG_BUFFERED, (_, d) => {
      const s = vp.audioSwitch;
      if (s && d.frag.type === 'audio' && d.frag.level === s.to) s.fragmentsBuffered++;
    });
    hls.attachMedia(video);
    hls.loadSource(url);
  }

  // Hex → base64url without padding (dash.js's ClearKey protData form).
  function b64url(hex) {
    const bytes = hex.match(/../g).map((h) => parseInt(h, 16));
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function startDashjs(url, clearkeys) {
    if (!window.dashjs) throw new Error('dash.js not loaded');
    const player = dashjs.MediaPlayer().create();
    window.__player = player;
    vp.version = player.getVersion ? player.getVersion() : null;
    // dash.js reports every error through ERROR; there is no non-fatal flavour in its API.
    player.on(dashjs.MediaPlayer.events.ERROR, (e) => {
      const err = e && e.error;
      record('dash.js', true, 'ERROR', err && err.code !== undefined ? String(err.code) : null, describe(err && err.message ? err.message : err));
    });
    player.on(dashjs.MediaPlayer.events.PLAYBACK_ERROR, (e) => {
      record('dash.js', true, 'PLAYBACK_ERROR', null, describe(e && e.error));
    });
    const kids = Object.keys(clearkeys || {});
    if (kids.length) {
      const keys = {};
      for (const kid of kids) keys[b64url(kid)] = b64url(clearkeys[kid]);
      player.setProtectionData({ 'org.w3.clearkey': { clearkeys: keys } });
    }
    player.initialize(video, url, true);
    play();
  }

  async function startShaka(url, clearkeys) {
    if (!window.shaka) throw new Error('Shaka Player not loaded');
    shaka.polyfill.installAll();
    if (!shaka.Player.isBrowserSupported()) throw new Error('Shaka Player: browser not supported');
    vp.version = shaka.Player.version;
    const player = new shaka.Player();
    window.__player = player;
    player.addEventListener('error', (ev) => {
      const e = ev.detail;
      // severity 2 = CRITICAL, 1 = RECOVERABLE
      record('shaka', e.severity === 2, `category ${e.category}`, `code ${e.code}`, describe(e.data));
    });
    if (Object.keys(clearkeys || {}).length) player.configure({ drm: { clearKeys: clearkeys } });
    await player.attach(video);
    // A Smooth client manifest (<name>.ism/Manifest) has no file extension Shaka could map to a
    // parser, and its text/xml type names none either: say what it is, as a page playing Smooth
    // does.
    const mss = /\.ism\/manifest$/i.test(new URL(url).pathname);
    await player.load(url, null, mss ? 'application/vnd.ms-sstr+xml' : undefined);
    play();
  }

  // Seeks the media element (every player follows the element's currentTime).
  window.__seek = function (t) {
    video.currentTime = t;
    if (video.paused) play();
  };

  // Switches hls.js to audio track `to` (an index into hls.audioTracks); the outcome lands in
  // vp.audioSwitch. Returns an error message, or null when the switch was requested.
  window.__switchAudio = function (to) {
    const hls = window.__player;
    if (!window.Hls || !(hls instanceof Hls)) return 'audio switching is implemented for hls.js only';
    const tracks = hls.audioTracks.map((t) => ({ id: t.id, name: t.name, lang: t.lang || null }));
    const from = hls.audioTrack;
    vp.audioSwitch = { from, to, tracks, at: video.currentTime, switched: null, fragmentsBuffered: 0 };
    if (tracks.length <= to) return `${tracks.length} audio track(s): no track ${to} to switch to`;
    if (from === to) return `already on audio track ${to}`;
    hls.audioTrack = to;
    return null;
  };

  window.__start = async function (which, url, clearkeys) {
    vp.started = true;
    try {
      if (which === 'hlsjs') startHlsjs(url);
      else if (which === 'dashjs') startDashjs(url, clearkeys);
      else if (which === 'shaka' || which === 'shaka4') await startShaka(url, clearkeys);
      else throw new Error(`unknown player ${which}`);
    } catch (e) {
      const msg = e && e.code !== undefined ? `code ${e.code} category ${e.category} ${describe(e.data)}` : describe(e);
      vp.loadError = msg;
    }
  };

  // Seconds of [start, end] the video element has buffered (audio and video both).
  function coverage(start, end) {
    let c = 0;
    for (let i = 0; i < video.buffered.length; i++) {
      c += Math.max(0, Math.min(end, video.buffered.end(i)) - Math.max(start, video.buffered.start(i)));
    }
    return c;
  }

  window.__sample = function () {
    // A fragment hls.js reported as appended without buffered growth: the most of its time range
    // buffered at any sample since (play.mjs accepts the report only if that reaches all of it;
    // "since" because an audio switch flushes the audio buffer).
    for (const e of vp.errors) {
      if (e.details === 'bufferAppendNoProgress' && e.where) {
        const { start, duration } = e.where;
        const now = Number(coverage(start, start + duration).toFixed(3));
        e.where.coveredSeconds = Math.max(e.where.coveredSeconds || 0, now);
      }
    }
    const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    return {
      currentTime: video.currentTime,
      paused: video.paused,
      ended: video.ended,
      readyState: video.readyState,
      width: video.videoWidth,
      height: video.videoHeight,
      duration: video.duration,
      decodedFrames: q ? q.totalVideoFrames : null,
      droppedFrames: q ? q.droppedVideoFrames : null,
      videoError: video.error ? { code: video.error.code, message: video.error.message } : null,
      vp,
    };
  };
})();
