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

  function record(source, fatal, type, details, message) {
    vp.errors.push({
      source,
      fatal: !!fatal,
      type: type ?? null,
      details: details ?? null,
      message: message ?? null,
      at: Number(video.currentTime.toFixed(3)),
    });
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
  for (const ev of ['loadedmetadata', 'playing', 'waiting', 'stalled', 'ended']) {
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
      record('hls.js', d.fatal, d.type, d.details, d.error ? describe(d.error) : d.reason || null);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, play);
    hls.attachMedia(video);
    hls.loadSource(url);
  }

  function startDashjs(url) {
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
    player.initialize(video, url, true);
    play();
  }

  async function startShaka(url) {
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
    await player.attach(video);
    await player.load(url);
    play();
  }

  window.__start = async function (which, url) {
    vp.started = true;
    try {
      if (which === 'hlsjs') startHlsjs(url);
      else if (which === 'dashjs') startDashjs(url);
      else if (which === 'shaka') await startShaka(url);
      else throw new Error(`unknown player ${which}`);
    } catch (e) {
      const msg = e && e.code !== undefined ? `code ${e.code} category ${e.category} ${describe(e.data)}` : describe(e);
      vp.loadError = msg;
    }
  };

  window.__sample = function () {
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
