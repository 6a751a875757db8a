#!/usr/bin/env bash
# Ingest benchmark: a long 3-rendition MP4 ladder (default 2 hours, made from the test media by
# stream copy, so it takes seconds) indexed by `vodpack inspect` (the ingest code path) from the
# local folder and from an S3-compatible server (moto), against a baseline measured in the same
# run: ffprobe listing every packet of the same files (what an independent reader needs to
# index them). Reports wall time, peak RSS, and the ratio to the baseline.
#   scripts/bench-ingest.sh [HOURS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
hours="${1:-2}"
runs="${2:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
venv="${VODPACK_VENV:-/var/cache/vodpack/venv}"
cargo build --quiet --release -p vodpack
bin="$CARGO_TARGET_DIR/release/vodpack"
media="$(scripts/make-test-media.sh)"
work="${VODPACK_BENCH_DIR:-/var/cache/vodpack/bench}/ladder-${hours}h"
loops=$(( hours * 3600 / 12 ))

if [ ! -f "$work/.complete" ]; then
  rm -rf "$work" && mkdir -p "$work"
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
  # The HLS-TS version of the same ladder (stream copy into 6 s TS segments).
  mkdir -p "$work/hls"
  for h in 360 540 720; do
    ffmpeg -nostdin -hide_banner -loglevel error -i "$work/long_${h}p.mp4" -c copy \
      -bsf:v h264_mp4toannexb -f hls -hls_time 6 -hls_playlist_type vod \
      -hls_segment_filename "$work/hls/${h}p_%04d.ts" "$work/hls/${h}p.m3u8"
  done
  printf '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=600000\n360p.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1000000\n540p.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1800000\n720p.m3u8\n' > "$work/hls/master.m3u8"
  touch "$work/.complete"
fi
ts_bytes=$(du -cb "$work"/hls/*.ts | tail -1 | cut -f1)
bytes=$(du -cb "$work"/long_*.mp4 | tail -1 | cut -f1)

# measure LABEL COMMAND... → median wall seconds and max RSS (KiB) over $runs runs
measure() {
  local label="$1"; shift
  local walls=() rss=0
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null
    read -r w m < "$work/time.txt"
    walls+=("$w")
    [ "$m" -gt "$rss" ] && rss=$m
  done
  local med
  med=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  printf '%-34s %8.3f s  %8d KiB peak RSS\n' "$label" "$med" "$rss"
  echo "$med" > "$work/last.txt"
}

echo "ingest benchmark: ${hours} h ladder, 3 renditions, $(( bytes / 1048576 )) MiB of MP4, median of $runs runs"
"$bin" inspect "$work/long.smil" --json > "$work/inspect.json"
python3 - "$work/inspect.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"  index: {d['sampleCount']} samples, {d['indexBytes']} bytes encoded, {d['durationSeconds']:.0f} s")
PY

measure "baseline: ffprobe -show_packets" sh -c "for f in $work/long_*.mp4; do ffprobe -v error -show_entries packet=pts_time,size,pos,flags -of csv \$f; done"
base=$(cat "$work/last.txt")
measure "vodpack ingest, local folder" "$bin" inspect "$work/long.smil" --json
local_s=$(cat "$work/last.txt")

measure "baseline: cat every TS byte" sh -c "cat $work/hls/*.ts"
cat_s=$(cat "$work/last.txt")
measure "vodpack ingest HLS-TS, local" "$bin" inspect "$work/hls/master.m3u8" --json
hls_s=$(cat "$work/last.txt")

if [ -x "$venv/bin/moto_server" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > /dev/null 2>&1 &
  moto=$!
  trap 'kill $moto 2>/dev/null || true' EXIT
  for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/" > /dev/null && break; sleep 0.2; done
  # The CLI's key pair (to upload), and vodpack's own for reading sources.
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
  export VODPACK_S3_ACCESS_KEY_ID=testing VODPACK_S3_SECRET_ACCESS_KEY=testing
  aws=("$venv/bin/aws" --endpoint-url "http://127.0.0.1:$port")
  "${aws[@]}" s3 mb s3://bench > /dev/null
  "${aws[@]}" s3 cp --quiet --recursive --exclude "*" --include "long*" "$work" s3://bench/ladder/
  "${aws[@]}" s3 cp --quiet --recursive "$work/hls" s3://bench/hls/
  measure "vodpack ingest, S3 (moto)" "$bin" inspect s3://bench/ladder/long.smil --json \
    --s3-endpoint "http://127.0.0.1:$port" --s3-path-style
  s3_s=$(cat "$work/last.txt")
  measure "vodpack ingest HLS-TS, S3 (moto)" "$bin" inspect s3://bench/hls/master.m3u8 --json \
    --s3-endpoint "http://127.0.0.1:$port" --s3-path-style
  s3_hls_s=$(cat "$work/last.txt")
else
  s3_s=""
  s3_hls_s=""
  echo "(moto_server not found in $venv: S3 run skipped; run scripts/install-deps)"
fi

python3 - "$hours" "$base" "$local_s" "$s3_s" "$ts_bytes" "$cat_s" "$hls_s" "$s3_hls_s" <<'PY'
import sys
hours, base, local, s3 = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
ts_mb, cat, hls, s3_hls = int(sys.argv[5]) / 1e6, float(sys.argv[6]), float(sys.argv[7]), sys.argv[8]
print(f"local: {local / hours:.3f} s per hour of content; {base / local:.1f}x faster than the ffprobe baseline")
if s3:
    s3 = float(s3)
    print(f"S3:    {s3 / hours:.3f} s per hour of content; {base / s3:.1f}x faster than the ffprobe baseline")
print(f"HLS-TS local: {ts_mb / hls:.0f} MB/s of TS scanned; cat reads the same bytes at {ts_mb / cat:.0f} MB/s (ratio {cat / hls:.2f})")
if s3_hls:
    s3_hls = float(s3_hls)
    print(f"HLS-TS S3:    {ts_mb / s3_hls:.0f} MB/s of TS scanned")
PY
