#!/usr/bin/env bash
# Egress benchmark: segment throughput, latency, time to first byte and memory of `vodpack
# serve` (just-in-time packaging) against nginx serving static files that hold the same bytes
# (written by `vodpack package` for the same asset and configurations), in one run, on loopback.
#
#   scripts/bench-egress.sh [MINUTES]        (default 10 minutes of media)
#
# Environment: BENCH_SECONDS (each timed warm run, default 10), BENCH_ROUNDS (warm runs per
# server and format, alternating, default 3), BENCH_CONNECTIONS (default 16),
# BENCH_RSS_REQUESTS (segment requests of the memory check, default 100000; 0 skips it),
# BENCH_FORMATS (default "hls dash"; clear: hls (HLS-TS), dash, cmaf; encrypted: hls-aes
# (AES-128), hls-sample-aes, cmaf-cbcs, dash-cenc, each compared with its clear format, which
# is measured too when it is not listed), BENCH_COLD (0 skips the cold passes), BENCH_PERF (a path
# prefix: `perf record` of vodpack's first warm round per format into PREFIX.FORMAT.data),
# CARGO_TARGET_DIR,
# VODPACK_BIN (a vodpack binary to measure instead of building this tree),
# BENCH_NGINX_VOD (an nginx binary built with nginx-vod-module, see scripts/build-nginx-vod.sh:
# measured as a third server, `nvod`, in local mode over the same MP4 files with the module's
# recommended settings; its segments are its own muxer's, so they are not compared by bytes).
#
# What it does:
# - installs wrk and nginx from apt when missing (nginx runs as a foreground process of this
#   script on a loopback port with a generated config: sendfile, tcp_nopush, keep-alive, access
#   log on like vodpack's; never as a system service);
# - builds vodpack (release) and makes a MINUTES-long 3-rendition H.264+AAC SMIL ladder from the
#   test media by stream copy (cached under /var/cache/vodpack/bench/ladder-<MINUTES>m);
# - starts `vodpack serve --insecure-no-auth` on loopback with a temporary data dir whose bucket
#   `bench` is the ladder folder, creates a group, an hlsPackage and a dashPackage configuration
#   (6 s segments) and the asset over the REST API with curl, waits for PLAYABLE;
# - encrypted formats: starts the SPEKE test key server (tests/speke/server.py, with the venv's
#   python, VODPACK_VENV) on loopback for vodpack serve (VODPACK_SPEKE_ALLOW_HTTP_HOSTS=127.0.0.1)
#   and a second one with the same secret for `vodpack package --content-id` (its keys are a
#   function of the secret, the content id and the KID alone: the same keys, so the same bytes),
#   so that the first one's request log counts vodpack serve's key requests alone: one per
#   asset x encrypted configuration is expected (keys are fetched once and kept);
# - runs `vodpack package` for every configuration into the nginx root, and checks with cmp that
#   a sample of segment URLs answers the same bytes from both servers;
# - for {vodpack, nginx} x {HLS-TS, DASH}, over the list of every segment URL of the whole ladder
#   (every rendition and segment; DASH init segments included):
#     cold: a fresh vodpack process (empty index, plan and resolution caches) and the page cache
#           dropped (`echo 3 > /proc/sys/vm/drop_caches`, needs root; otherwise reported as not
#           cold), then ONE pass over the list with one keep-alive connection: a saturating
#           timed run would turn into a warm run after its first pass, so the single pass is
#           the meaningful cold figure;
#     warm: after one more full pass (index, plan and page cache warm), timed wrk runs with
#           BENCH_CONNECTIONS connections cycling through the list, vodpack and nginx
#           alternately (BENCH_ROUNDS each; the median is reported: the machine may be shared);
#   each gives requests/s, MB/s (wrk's bytes: bodies and headers) and latency p50/p90/p99,
#   the CPU time of the server and of wrk, and the whole machine's (/proc/stat: user, system,
#   softirq, idle and steal, the time the host gave to other guests): busy CPU per request
#   is what a request costs whatever the host takes, and its ratio is the throughput ratio on
#   cores of our own (this VM's throughput swings with steal, round to round);
#   (the cold pass uses curl with every URL on one connection: wrk cannot stop after N requests);
# - time to first byte of a segment at low load: 200 segment requests on one keep-alive
#   connection (curl -w %{time_starttransfer}), median and p99, warm;
# - vodpack's resident memory after the warm-up and after BENCH_RSS_REQUESTS more segment
#   requests: anonymous (what would leak) and mapped source pages (page cache) apart.
# Prints a table and the vodpack/nginx (and nvod/nginx) ratios; with encrypted formats, each
# one's throughput against vodpack's clear output of the same format (targets: cbcs and
# SAMPLE-AES >= 0.9x, cenc and AES-128 >= 0.7x), as the ratio of medians and as the ratio of busy
# CPU per request (the robust one on a shared machine), and the key server's request count.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
seconds="${BENCH_SECONDS:-10}"
rounds="${BENCH_ROUNDS:-3}"
conns="${BENCH_CONNECTIONS:-16}"
rss_requests="${BENCH_RSS_REQUESTS:-100000}"
formats="${BENCH_FORMATS:-hls dash}"
# Every encrypted format needs its clear one (the reference of its ratio): added when missing.
clear_of() { case "$1" in hls-*) echo hls ;; cmaf-*) echo cmaf ;; dash-*) echo dash ;; *) echo "$1" ;; esac; }
for f in $formats; do
  case "$f" in hls | dash | cmaf | hls-aes | hls-sample-aes | cmaf-cbcs | dash-cenc) ;;
    *) echo "unknown format in BENCH_FORMATS: $f" >&2; exit 2 ;; esac
  c=$(clear_of "$f")
  case " $formats " in *" $c "*) ;; *) formats="$c $formats" ;; esac
done
encrypted_formats=$(for f in $formats; do [ "$(clear_of "$f")" = "$f" ] || echo "$f"; done | tr '\n' ' ')
with_cold="${BENCH_COLD:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
if ! command -v wrk > /dev/null || [ ! -x "$nginx_bin" ]; then
  # nginx-light: the static server alone. Debian's package scripts may try to start the system
  # service; this script never uses it (policy-rc.d refuses it in containers).
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light > /dev/null
  nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
fi

if [ -n "${VODPACK_BIN:-}" ]; then
  bin="$VODPACK_BIN" # another build to compare (e.g. before a change)
else
  cargo build --quiet --release -p vodpack
  bin="$CARGO_TARGET_DIR/release/vodpack"
fi
media="$(scripts/make-test-media.sh)"
work="${VODPACK_BENCH_DIR:-/var/cache/vodpack/bench}/ladder-${minutes}m"
if [ ! -f "$work/.complete" ]; then
  rm -rf "$work" && mkdir -p "$work"
  loops=$(( (minutes * 60 + 11) / 12 ))
  for h in 360 540 720; do
    ffmpeg -nostdin -hide_banner -loglevel error -stream_loop $((loops - 1)) \
      -i "$media/ladder/ladder_${h}p.mp4" -c copy -fflags +bitexact "$work/long_${h}p.mp4"
  done
  cat > "$work/long.smil" <<'SMIL'
<smil><body><switch>
  <video src="long_360p.mp4" systemLanguage="eng" audioName="English"/>
  <video src="long_540p.mp4" includeAudio="false"/>
  <video src="long_720p.mp4" includeAudio="false"/>
</switch></body></smil>
SMIL
  touch "$work/.complete"
fi

tmp="$(mktemp -d /tmp/vodpack-bench-egress.XXXXXX)"
chmod 755 "$tmp"
vodpack_pid=""
nginx_pid=""
nvod_pid=""
keys_pid=""
keys2_pid=""
servers="vodpack nginx"
[ -z "${BENCH_NGINX_VOD:-}" ] || servers="vodpack nginx nvod"
cleanup() {
  [ -n "$vodpack_pid" ] && kill "$vodpack_pid" 2> /dev/null || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2> /dev/null || true
  [ -n "$nvod_pid" ] && kill "$nvod_pid" 2> /dev/null || true
  [ -n "$keys_pid" ] && kill "$keys_pid" 2> /dev/null || true
  [ -n "$keys2_pid" ] && kill "$keys2_pid" 2> /dev/null || true
  wait 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
vport=$(free_port)
nport=$(free_port)
mport=$(free_port)
api="http://127.0.0.1:$vport"

# The bucket `bench` is the ladder folder itself (the local backend follows the bucket symlink
# and keeps every read inside it).
mkdir -p "$tmp/data/buckets"
ln -s "$work" "$tmp/data/buckets/bench"

# Key servers (encrypted formats): one for vodpack serve, one for vodpack package.
keys_url=""
keys2_url=""
if [ -n "$encrypted_formats" ]; then
  py="${VODPACK_VENV:-/var/cache/vodpack/venv}/bin/python"
  [ -x "$py" ] || py=python3
  start_keys() { # NAME → its pid in $started, its URL in $started_url
    "$py" -u tests/speke/server.py --port 0 > "$tmp/$1.log" 2>&1 &
    started=$!
    for _ in $(seq 100); do
      started_url=$(sed -n 's/^listening on //p' "$tmp/$1.log")
      [ -z "$started_url" ] || return 0
      sleep 0.1
    done
    echo "the key server did not start:" >&2
    cat "$tmp/$1.log" >&2
    exit 1
  }
  start_keys keys
  keys_pid=$started keys_url=$started_url
  start_keys keys2
  keys2_pid=$started keys2_url=$started_url
  export VODPACK_SPEKE_ALLOW_HTTP_HOSTS=127.0.0.1
fi

start_vodpack() {
  "$bin" serve --listen "127.0.0.1:$vport" --data-dir "$tmp/data" --insecure-no-auth \
    >> "$tmp/vodpack.log" 2>&1 &
  vodpack_pid=$!
  for _ in $(seq 100); do
    curl -fs "$api/packaging_groups" > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "vodpack did not start:" >&2
  tail "$tmp/vodpack.log" >&2
  exit 1
}
stop_vodpack() {
  kill "$vodpack_pid"
  wait "$vodpack_pid" 2> /dev/null || true
  vodpack_pid=""
}
post() { curl -fsS -X POST -H 'content-type: application/json' "$api$1" -d "$2"; }

# conf FORMAT KEY-SERVER-URL → the packaging configuration (id: the format's name), 6 s segments.
conf() {
  local fmt="$1" enc="" speke ids
  case "$fmt" in
    hls-aes) ids='"81376844-f976-481e-a84e-cc25d39b0b33"' ;;                  # AES-128 (ClearKey)
    hls-sample-aes) ids='"94ce86fb-07ff-4f43-adb8-93d2fa968ca2"' ;;           # FairPlay
    cmaf-cbcs) ids='"edef8ba9-79d6-4ace-a3c8-27dcd51d21ed","94ce86fb-07ff-4f43-adb8-93d2fa968ca2"' ;;
    dash-cenc) ids='"edef8ba9-79d6-4ace-a3c8-27dcd51d21ed","9a04f079-9840-4286-ab92-e65be0885f95"' ;;
  esac
  speke="{\"url\":\"$2/speke\",\"roleArn\":\"arn:aws:iam::111122223333:role/speke\",\"systemIds\":[${ids:-}]}"
  case "$fmt" in
    hls-aes) enc=",\"encryption\":{\"encryptionMethod\":\"AES_128\",\"spekeKeyProvider\":$speke}" ;;
    hls-sample-aes) enc=",\"encryption\":{\"encryptionMethod\":\"SAMPLE_AES\",\"spekeKeyProvider\":$speke}" ;;
    cmaf-* | dash-*) enc=",\"encryption\":{\"spekeKeyProvider\":$speke}" ;;
  esac
  local head="\"id\":\"$fmt\",\"packagingGroupId\":\"bench\""
  case "$(clear_of "$fmt")" in
    hls) echo "{$head,\"hlsPackage\":{\"segmentDurationSeconds\":6,\"hlsManifests\":[{\"manifestName\":\"index\"}]$enc}}" ;;
    cmaf) echo "{$head,\"cmafPackage\":{\"segmentDurationSeconds\":6,\"hlsManifests\":[{\"manifestName\":\"index\"}]$enc}}" ;;
    dash) echo "{$head,\"dashPackage\":{\"segmentDurationSeconds\":6,\"dashManifests\":[{\"manifestName\":\"index\"}]$enc}}" ;;
  esac
}

start_vodpack
post /packaging_groups '{"id":"bench"}' > /dev/null
for f in $formats; do post /packaging_configurations "$(conf "$f" "$keys_url")" > /dev/null; done
post /assets '{"id":"ladder","packagingGroupId":"bench","sourceArn":"arn:aws:s3:::bench/long.smil","sourceRoleArn":"arn:aws:iam::111122223333:role/bench"}' > /dev/null
for _ in $(seq 600); do
  curl -fsS "$api/assets/ladder" > "$tmp/asset.json"
  python3 - "$tmp/asset.json" <<'PY' && break
import json, sys
e = json.load(open(sys.argv[1]))["egressEndpoints"]
s = [x.get("status") for x in e]
if "FAILED" in s: sys.exit(f"ingest failed: {e}")
sys.exit(0 if s and all(x == "PLAYABLE" for x in s) else 1)
PY
  sleep 0.1
done
# Egress base (folder of the manifest) per configuration.
python3 - "$tmp/asset.json" > "$tmp/bases" <<'PY'
import json, sys
for e in json.load(open(sys.argv[1]))["egressEndpoints"]:
    print(e["packagingConfigurationId"], e["url"].rsplit("/", 1)[0])
PY

# The same files, written offline, for nginx (encrypted: the second key server, same keys, the
# asset's content id: its id).
www="$tmp/www"
url_path() { python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).path)' "$1"; }
for f in $formats; do
  conf "$f" "$keys2_url" > "$tmp/$f.json"
  extra=()
  [ "$(clear_of "$f")" = "$f" ] || extra=(--content-id ladder)
  "$bin" package "$work/long.smil" --config "$tmp/$f.json" --out "$www/$f" "${extra[@]}" > /dev/null
  # Every segment of the whole ladder (all renditions; fMP4 init segments too), by name.
  ext=mp4
  [ "$(clear_of "$f")" != hls ] || ext=ts
  (cd "$www/$f/index" && ls | grep "\\.$ext\$" | sort -V) > "$tmp/$f.files"
  base=$(awk -v f="$f" '$1 == f {print $2}' "$tmp/bases")
  sed "s|^|$(url_path "$base")/|" "$tmp/$f.files" > "$tmp/vodpack-$f.paths"
  sed "s|^|/$f/index/|" "$tmp/$f.files" > "$tmp/nginx-$f.paths"
done
chmod -R a+rX "$www"

# What both nginx configurations (static files; nginx-vod-module) share, for the one whose files
# are under DIR: 2 workers (one per core, as vodpack's runtime), sendfile, keep-alive, access
# log on; MAIN: more lines for the main context; the `http` block is left open.
user_line=""
[ "$(id -u)" = 0 ] && user_line="user nobody nogroup;"
nginx_conf_head() {
  local d="$1" main="${2:-}"
  cat <<NGINX
$user_line
$main
worker_processes 2;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  access_log $d/access.log;
  client_body_temp_path $d/body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
NGINX
}
# run_nginx BINARY DIR PROBE-URL: starts nginx in the foreground of this script (its pid in
# $started) and waits until PROBE-URL answers.
run_nginx() {
  "$1" -p "$2" -c "$2/nginx.conf" -e "$2/error.log" -g 'daemon off;' &
  started=$!
  for _ in $(seq 100); do
    curl -fs -o /dev/null "$3" && return 0
    sleep 0.1
  done
  echo "$1 did not start:" >&2
  cat "$2/error.log" >&2
  exit 1
}

# nginx: the static files.
mkdir -p "$tmp/nginx"
{
  nginx_conf_head "$tmp/nginx"
  cat <<NGINX
  types { video/MP2T ts; video/mp4 mp4; application/dash+xml mpd; application/vnd.apple.mpegurl m3u8; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$nport;
    root $www;
  }
}
NGINX
} > "$tmp/nginx/nginx.conf"
first="${formats%% *}"
run_nginx "$nginx_bin" "$tmp/nginx" "http://127.0.0.1:$nport/$first/index/$(head -1 "$tmp/$first.files")"
nginx_pid=$started

# Byte equality on a sample of URLs: every 7th segment of each list, the first and the last.
checked=0
for f in $formats; do
  n=$(wc -l < "$tmp/$f.files")
  paste "$tmp/vodpack-$f.paths" "$tmp/nginx-$f.paths" | awk -v n="$n" 'NR % 7 == 1 || NR == n' \
    > "$tmp/sample"
  while read -r v s; do
    curl -fsS "$api$v" -o "$tmp/a"
    curl -fsS "http://127.0.0.1:$nport$s" -o "$tmp/b"
    cmp -s "$tmp/a" "$tmp/b" || { echo "bytes differ: $v vs $s" >&2; exit 1; }
    checked=$((checked + 1))
  done < "$tmp/sample"
done
echo "byte-identical: $checked sampled segment URLs (vodpack vs nginx)"
# Encrypted output is not the clear output: the first segment of each encrypted format differs
# from its clear format's (a configuration served in the clear would pass the check above).
for f in $encrypted_formats; do
  c=$(clear_of "$f")
  if cmp -s "$www/$f/index/$(sed -n 2p "$tmp/$f.files")" "$www/$c/index/$(sed -n 2p "$tmp/$c.files")"; then
    echo "$f: segments are the clear ones" >&2
    exit 1
  fi
done

# nginx-vod-module (optional): local mode over the ladder's MP4 files, one URL per file (each
# 540p/720p segment muxes that file's own audio where vodpack muxes the 360p file's: the same
# bytes per second), with the module's recommended settings: metadata and response caches,
# open file cache, aio and file opens in a thread pool, frames interleaved, not aligned.
start_nvod() {
  run_nginx "$BENCH_NGINX_VOD" "$tmp/nvod" "http://127.0.0.1:$mport/hls/long_360p.mp4/index.m3u8"
  nvod_pid=$started
}
stop_nvod() {
  kill "$nvod_pid"
  wait "$nvod_pid" 2> /dev/null || true
  nvod_pid=""
}
if [ -n "${BENCH_NGINX_VOD:-}" ]; then
  mkdir -p "$tmp/nvod"
  {
    nginx_conf_head "$tmp/nvod" "thread_pool vod_pool threads=4 max_queue=65536;"
    cat <<NGINX
  tcp_nodelay on;
  open_file_cache max=1000 inactive=5m;
  open_file_cache_valid 2m;
  aio threads=vod_pool;
  vod_metadata_cache metadata_cache 512m;
  vod_response_cache response_cache 64m;
  vod_open_file_thread_pool vod_pool;
  vod_segment_duration 6000;
  vod_align_segments_to_key_frames on;
  vod_hls_mpegts_align_frames off;
  vod_hls_mpegts_interleave_frames on;
  server {
    listen 127.0.0.1:$mport;
    location /hls/ { alias $work/; vod hls; vod_mode local; }
    location /dash/ { alias $work/; vod dash; vod_mode local; }
  }
}
NGINX
  } > "$tmp/nvod/nginx.conf"
  start_nvod
  # Every segment the module's own manifests list (HLS: each file's media playlist; DASH:
  # each file's MPD, init segments included), by URL path.
  for h in 360p 540p 720p; do
    curl -fsS "http://127.0.0.1:$mport/hls/long_$h.mp4/index.m3u8" | grep -v '^#' \
      | sed -E 's|^https?://[^/]+||'
  done > "$tmp/nvod-hls.paths"
  for h in 360p 540p 720p; do
    curl -fsS "http://127.0.0.1:$mport/dash/long_$h.mp4/manifest.mpd" > "$tmp/nvod.mpd"
    python3 - "$tmp/nvod.mpd" "$h" <<'PY'
import re, sys, xml.etree.ElementTree as ET
ns = {"m": "urn:mpeg:dash:schema:mpd:2011"}
root = ET.parse(sys.argv[1]).getroot()
strip = lambda u: re.sub(r"^https?://[^/]+", "", u)
for aset in root.iter("{urn:mpeg:dash:schema:mpd:2011}AdaptationSet"):
    t = aset.find("m:SegmentTemplate", ns)
    count = sum(1 + int(s.get("r", "0")) for s in t.find("m:SegmentTimeline", ns))
    start = int(t.get("startNumber", "1"))
    for rep in aset.findall("m:Representation", ns):
        # vodpack lists one audio track for the ladder (the 360p file's); so does this list.
        if rep.get("mimeType", "").startswith("audio") and sys.argv[2] != "360p":
            continue
        rid = rep.get("id")
        print(strip(t.get("initialization").replace("$RepresentationID$", rid)))
        for n in range(start, start + count):
            print(strip(t.get("media").replace("$RepresentationID$", rid).replace("$Number$", str(n))))
PY
  done > "$tmp/nvod-dash.paths"
  for f in hls dash; do
    p="$(sed -n '2p' "$tmp/nvod-$f.paths")"
    curl -fsS -o /dev/null "http://127.0.0.1:$mport$p" || { echo "nginx-vod-module: $p fails" >&2; exit 1; }
  done
  echo "nginx-vod-module: $(wc -l < "$tmp/nvod-hls.paths") HLS-TS segments, $(wc -l < "$tmp/nvod-dash.paths") DASH files"
fi

# wrk: cycles through a path list, each thread from its own offset. done() prints one
# machine-readable line.
cat > "$tmp/cycle.lua" <<'LUA'
local paths, pos = {}, 1
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  pos = math.floor(id * #paths / tonumber(args[2] or "1")) % #paths + 1
end
function request()
  local p = paths[pos]
  pos = pos % #paths + 1
  return wrk.format("GET", p)
end
function done(summary, latency, requests)
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT %d %d %d %d %.1f %.1f %.1f\n", summary.requests, summary.bytes,
    summary.duration, errs, latency:percentile(50), latency:percentile(90),
    latency:percentile(99)))
end
LUA
# run_wrk HOSTURL PATHS WRK-ARGS... → "requests bytes duration_us errors p50 p90 p99" (µs)
run_wrk() {
  local host="$1" paths="$2"; shift 2
  wrk "$@" -s "$tmp/cycle.lua" "$host" -- "$paths" 1 | awk '/^RESULT/ {$1 = ""; sub(/^ /, ""); print}'
}
# one_pass HOSTURL PATHS → the same fields for one pass over the list on one keep-alive
# connection (curl: wrk cannot stop after a number of requests).
one_pass() {
  local host="$1" paths="$2" args=() t0 t1
  while read -r p; do args+=(-o /dev/null "$host$p"); done < "$paths"
  t0=$(date +%s%N)
  curl -sS -w '%{http_code} %{size_download} %{time_total}\n' "${args[@]}" > "$tmp/pass"
  t1=$(date +%s%N)
  python3 - "$tmp/pass" $(( (t1 - t0) / 1000 )) <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
lat = sorted(float(r[2]) * 1e6 for r in rows)
pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p / 100))]
errs = sum(r[0] != "200" for r in rows)
print(len(rows), sum(int(r[1]) for r in rows), sys.argv[2], errs, pct(50), pct(90), pct(99))
PY
}
declare -A host=([vodpack]="$api" [nginx]="http://127.0.0.1:$nport" [nvod]="http://127.0.0.1:$mport")
cold_ok=1
drop_caches() {
  if sync && { echo 3 > /proc/sys/vm/drop_caches; } 2> /dev/null; then return 0; fi
  cold_ok=0
}
# Anonymous memory (heap, stacks: what would grow with requests) and mapped file pages (the
# sources' page cache, shared with the kernel's cache and reclaimable), in KiB, as "anon:file".
# CPU time (clock ticks, user + system) used so far by a server's processes (nginx: master
# and workers).
server_ticks() {
  local pids
  case "$1" in
    vodpack) pids="$vodpack_pid" ;;
    nginx) pids="$nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')" ;;
    nvod) pids="$nvod_pid $(pgrep -P "$nvod_pid" | tr '\n' ' ')" ;;
  esac
  local t=0 p
  for p in $pids; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2> /dev/null || echo 0))); done
  echo "$t"
}
rss_kib() { awk '/^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {print a ":" f}' "/proc/$1/status"; }

results="$tmp/results"
: > "$results"
for fmt in $formats; do
  # cold: a fresh vodpack and an empty page cache, one pass over the list, one connection.
  for server in $servers; do
    [ "$with_cold" = 1 ] || continue
    [ -f "$tmp/$server-$fmt.paths" ] || continue # nvod: HLS-TS and DASH, clear
    if [ "$server" = vodpack ]; then
      stop_vodpack
      start_vodpack
    elif [ "$server" = nvod ]; then
      stop_nvod # its metadata cache is shared memory: gone with the process
      start_nvod
    fi
    drop_caches
    echo "$server $fmt cold $(one_pass "${host[$server]}" "$tmp/$server-$fmt.paths")" >> "$results"
  done
  # warm: one more pass each (the nginx cold run emptied the page cache vodpack had filled),
  # then saturating timed runs, vodpack and nginx alternately, so that both see the same
  # background load of a shared machine; the median round is reported.
  for server in $servers; do
    [ -f "$tmp/$server-$fmt.paths" ] || continue
    one_pass "${host[$server]}" "$tmp/$server-$fmt.paths" > /dev/null
  done
  for round in $(seq "$rounds"); do
    for server in $servers; do
      [ -f "$tmp/$server-$fmt.paths" ] || continue
      perf_pid=""
      if [ -n "${BENCH_PERF:-}" ] && [ "$server" = vodpack ] && [ "$round" = 1 ]; then
        perf record -q -F 999 -g -p "$vodpack_pid" -o "$BENCH_PERF.$fmt.data" -- sleep "$seconds" \
          > /dev/null 2>&1 &
        perf_pid=$!
      fi
      cpu0=$(server_ticks "$server")
      stat0=$(head -1 /proc/stat)
      # wrk's own CPU time (user + system, ms), from bash's `time` of the run.
      TIMEFORMAT='%3U %3S'
      { time r=$(run_wrk "${host[$server]}" "$tmp/$server-$fmt.paths" -t1 -c"$conns" -d"${seconds}s"); } 2> "$tmp/wrk.time"
      cpu1=$(server_ticks "$server")
      wrk_ms=$(awk '{printf "%d", ($1 + $2) * 1000}' "$tmp/wrk.time")
      stat1=$(head -1 /proc/stat)
      [ -z "$perf_pid" ] || wait "$perf_pid" || true
      echo "$server $fmt warm $r $round" >> "$results"
      echo "$server $fmt cpu $((cpu1 - cpu0)) ${r%% *} $wrk_ms" >> "$results"
      echo "$server $fmt machine $stat0 $stat1" >> "$results"
    done
  done
  echo "  measured $fmt" >&2
done

# Time to first byte at low load: 200 warm segment requests on one keep-alive connection.
ttfb() {
  local host="$1" paths="$2" args=()
  while read -r p; do args+=(-o /dev/null "$host$p"); done < <(cat "$paths" "$paths" | awk 'NR % 3 == 1' | head -200)
  curl -fsS -w '%{time_starttransfer}\n' "${args[@]}" > "$tmp/ttfb"
  python3 - "$tmp/ttfb" <<'PY'
import sys
v = sorted(float(x) * 1000 for x in open(sys.argv[1]) if x.strip())
print(f"{v[len(v) // 2]:.3f} {v[min(len(v) - 1, int(len(v) * 0.99))]:.3f} {len(v)}")
PY
}
for fmt in $formats; do
  echo "vodpack $fmt ttfb $(ttfb "$api" "$tmp/vodpack-$fmt.paths")" >> "$results"
  echo "nginx $fmt ttfb $(ttfb "http://127.0.0.1:$nport" "$tmp/nginx-$fmt.paths")" >> "$results"
  [ -z "$nvod_pid" ] || [ ! -f "$tmp/nvod-$fmt.paths" ] || echo "nvod $fmt ttfb $(ttfb "http://127.0.0.1:$mport" "$tmp/nvod-$fmt.paths")" >> "$results"
done

# Memory: RSS after the runs above, then after every further BENCH_RSS_REQUESTS / 4 segment
# requests or so (5 s wrk runs, HLS and DASH alternately), up to BENCH_RSS_REQUESTS.
rss_line="vodpack rss 0:$(rss_kib "$vodpack_pid")"
done_requests=0
next=$((rss_requests / 4))
while [ "$done_requests" -lt "$rss_requests" ]; do
  for fmt in $formats; do
    r=$(run_wrk "$api" "$tmp/vodpack-$fmt.paths" -t1 -c"$conns" -d5s)
    done_requests=$((done_requests + ${r%% *}))
  done
  if [ "$done_requests" -ge "$next" ] || [ "$done_requests" -ge "$rss_requests" ]; then
    rss_line="$rss_line $done_requests:$(rss_kib "$vodpack_pid")"
    next=$((done_requests + rss_requests / 4))
  fi
done
echo "$rss_line" >> "$results"

sizes=$(for f in $formats; do
  echo "$f $(wc -l < "$tmp/$f.files") files ($(( $(cd "$www/$f/index" && du -cb $(cat "$tmp/$f.files") | tail -1 | cut -f1) / 1000000 )) MB)"
done | paste -sd, | sed 's/,/, /g')
echo
echo "egress benchmark: ${minutes} min 3-rendition ladder, every segment: $sizes;" \
  "$(nproc) cores; warm: wrk -t1 -c$conns -d${seconds}s, median of $rounds; cold: one pass, 1 connection"
# The key servers' CPIX requests (serve's: one per asset x encrypted configuration expected).
key_requests() { curl -fsS "$1/requests" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }
if [ -n "$encrypted_formats" ]; then
  echo "keys $(key_requests "$keys_url") $(key_requests "$keys2_url") $(echo $encrypted_formats | wc -w)" >> "$results"
fi
[ "$cold_ok" = 1 ] || echo "NOTE: could not drop the page cache (not root): 'cold' runs had a warm page cache"
python3 - "$results" "$formats" <<'PY'
import sys
rows, ttfb, rss, in_order, keys = {}, {}, None, {}, None
fmts = sys.argv[2].split()
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "keys":
        keys = [int(x) for x in f[1:]]
    elif f[2] in ("cold", "warm"):
        req, byt, dur, err = (int(float(x)) for x in f[3:7])
        p50, p90, p99 = (float(x) / 1000 for x in f[7:10])
        rows.setdefault((f[0], f[1], f[2]), []).append(
            (req / (dur / 1e6), byt / (dur / 1e6) / 1e6, p50, p90, p99, err, req))
        in_order.setdefault((f[0], f[1], f[2]), []).append(req / (dur / 1e6))
    elif f[2] == "cpu":
        cpu = rows.setdefault(("cpu", f[0], f[1]), [0, 0, 0])
        cpu[0] += int(f[3])
        cpu[1] += int(f[4])
        cpu[2] += int(f[5])
    elif f[2] == "machine":
        # Two /proc/stat "cpu" lines: user nice system idle iowait irq softirq steal ...
        a, b = [int(x) for x in f[4:12]], [int(x) for x in f[15:23]]
        m = rows.setdefault(("machine", f[0], f[1]), [0] * 8)
        for j in range(8):
            m[j] += b[j] - a[j]
    elif f[2] == "ttfb":
        ttfb[(f[0], f[1])] = (float(f[3]), float(f[4]), int(f[5]))
    elif f[1] == "rss":
        rss = [tuple(int(y or 0) for y in x.split(":")) for x in f[2:]]
cpu = {k[1:]: v for k, v in rows.items() if k[0] == "cpu"}
machine = {k[1:]: v for k, v in rows.items() if k[0] == "machine"}
rows = {k: v for k, v in rows.items() if k[0] not in ("cpu", "machine")}
warm_runs = {k: sorted(v) for k, v in rows.items()}
# One row per server x format x cache: the median run (by requests/s).
rows = {k: v[len(v) // 2] for k, v in warm_runs.items()}
print(f"{'server':8} {'format':14} {'cache':5} {'req/s':>9} {'MB/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'reqs':>7} {'errors':>6}")
for fmt in fmts:
    for cache in ("warm", "cold"):
        for server in ("vodpack", "nginx", "nvod"):
            r = rows.get((server, fmt, cache))
            if r:
                print(f"{server:8} {fmt:14} {cache:5} {r[0]:9.0f} {r[1]:8.0f} {r[2]:8.2f} {r[3]:8.2f} {r[4]:8.2f} {r[6]:7d} {r[5]:6d}")
print()
for who in ("vodpack", "nvod"):
    if not any(k[0] == who for k in in_order):
        continue
    print(f"warm rounds in order, {who} / nginx (static files), requests/s (each pair run back to back) = ratio:")
    for fmt in fmts:
        v = in_order.get((who, fmt, "warm"), [])
        n = in_order.get(("nginx", fmt, "warm"), [])
        pairs = [(a, b, a / b) for a, b in zip(v, n) if b > 0]
        if pairs:
            med = sorted(p[2] for p in pairs)[len(pairs) // 2]
            print(f"  {fmt:14} " + ", ".join(f"{a:.0f}/{b:.0f}={r:.2f}" for a, b, r in pairs)
                  + f"; median of the pair ratios {med:.2f}x")
print()
for who in ("vodpack", "nvod"):
    if not any(k[0] == who for k in rows):
        continue
    print(f"ratios {who}/nginx (throughput: higher is better; latency: lower is better)")
    for fmt in fmts:
        for cache in ("warm", "cold"):
            v, n = rows.get((who, fmt, cache)), rows.get(("nginx", fmt, cache))
            if v and n:
                print(f"  {fmt:14} {cache}: req/s {v[0] / n[0]:.2f}x  MB/s {v[1] / n[1]:.2f}x  p50 {v[2] / n[2]:.2f}x  p99 {v[4] / n[4]:.2f}x")
print()
import os
tick = os.sysconf("SC_CLK_TCK")
print("CPU per warm request (µs, all rounds), server + client (wrk, one thread: at most one")
print("core; near 1e6 / req/s it is what limits the run):")
for fmt in fmts:
    parts = []
    for server in ("vodpack", "nginx", "nvod"):
        c = cpu.get((server, fmt))
        if c and c[1]:
            parts.append(f"{server} {c[0] / tick / c[1] * 1e6:.0f} + {c[2] * 1e3 / c[1]:.0f}")
    if parts:
        print(f"  {fmt:14} " + ", ".join(parts))
print("the machine's CPU time during the warm runs (% of all cores; steal: taken by the host):")
for fmt in fmts:
    for server in ("vodpack", "nginx", "nvod"):
        m = machine.get((server, fmt))
        if m and sum(m):
            t = sum(m) / 100
            print(f"  {fmt:14} {server:8} user {(m[0] + m[1]) / t:4.1f}  system {m[2] / t:4.1f}  softirq"
                  f" {(m[5] + m[6]) / t:4.1f}  idle {(m[3] + m[4]) / t:4.1f}  steal {m[7] / t:4.1f}")
# Busy CPU of the whole machine (both servers' and wrk's processes, kernel and softirq work;
# not idle, not steal) per request: what a request costs wherever it is counted. Its ratio
# is the throughput ratio the two would have on cores of their own, whatever the host takes.
busy = {}
for (server, fmt), m in machine.items():
    c = cpu.get((server, fmt))
    if c and c[1]:
        busy[(server, fmt)] = (m[0] + m[1] + m[2] + m[5] + m[6]) / tick / c[1] * 1e6
if busy:
    print("busy CPU of the whole machine per warm request (µs; user + system + softirq of every")
    print("process), and nginx's / the server's: the throughput ratio without idle and steal:")
    for fmt in fmts:
        n = busy.get(("nginx", fmt))
        for server in ("vodpack", "nginx", "nvod"):
            b = busy.get((server, fmt))
            if b:
                print(f"  {fmt:14} {server:8} {b:5.0f}" + (f"  ratio {n / b:.2f}x" if n and server != "nginx" else ""))
print()
print("time to first byte, warm, one keep-alive connection (ms):")
for fmt in fmts:
    for server in ("vodpack", "nginx", "nvod"):
        t = ttfb.get((server, fmt))
        if t:
            print(f"  {server:8} {fmt:14} median {t[0]:.3f}  p99 {t[1]:.3f}  ({t[2]} requests)")
if rss:
    print()
    print("vodpack anonymous RSS (MiB) after N more segment requests: "
          + ", ".join(f"{n}: {a / 1024:.1f}" for n, a, _ in rss)
          + f"; last - first {(rss[-1][1] - rss[0][1]) / 1024:+.1f} MiB")
    print("  mapped source pages (page cache, shared): "
          + ", ".join(f"{f / 1024:.0f}" for _, _, f in rss) + " MiB")
enc = [f for f in fmts if "-" in f]
if enc:
    # Targets of issue #11: the encrypted output's throughput against the clear output's.
    target = {"hls-aes": 0.7, "hls-sample-aes": 0.9, "cmaf-cbcs": 0.9, "dash-cenc": 0.7}
    print()
    print("encryption, warm: vodpack encrypted / vodpack clear of the same format: ratio of the median")
    print("req/s and MB/s; vodpack's own CPU per request (user + system, the kernel's socket copies")
    print("included), clear's / encrypted's: the throughput ratio when vodpack is what limits, the")
    print("one judged against the target (other processes' load, e.g. builds, does not enter it);")
    print("busy CPU of the whole machine per request, the same way; vodpack / nginx serving the same")
    print("encrypted bytes (median of the back-to-back pair ratios):")
    for f in enc:
        c = f.split("-")[0]
        e, cl = rows.get(("vodpack", f, "warm")), rows.get(("vodpack", c, "warm"))
        ce, cc = cpu.get(("vodpack", f)), cpu.get(("vodpack", c))
        be, bc = busy.get(("vodpack", f)), busy.get(("vodpack", c))
        if not (e and cl and ce and cc and ce[0] and be and bc):
            continue
        own_e, own_c = ce[0] / tick / ce[1] * 1e6, cc[0] / tick / cc[1] * 1e6
        v = in_order.get(("vodpack", f, "warm"), [])
        n = in_order.get(("nginx", f, "warm"), [])
        pr = sorted(a / b for a, b in zip(v, n) if b > 0)
        vs_nginx = f"{pr[len(pr) // 2]:.2f}x" if pr else "-"
        ok = "meets" if own_c / own_e >= target[f] else "BELOW"
        print(f"  {f:14} req/s {e[0] / cl[0]:.2f}x  MB/s {e[1] / cl[1]:.2f}x  vodpack CPU {own_e:.0f}"
              f" vs {own_c:.0f} us = {own_c / own_e:.2f}x (target >= {target[f]}: {ok})"
              f"  busy {bc / be:.2f}x  vs nginx {vs_nginx}")
    if keys:
        print(f"key server requests: vodpack serve {keys[0]} for {keys[2]} asset x encrypted configurations"
              f" (expected {keys[2]}); vodpack package {keys[1]} (its own server)")
PY
