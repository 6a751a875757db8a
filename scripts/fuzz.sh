#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 20 s each), seeded from the test
# media (HTTP heads and SigV4 headers: written below). Any crash fails the script. cargo-fuzz needs nightly compiler flags; on the stable
# toolchain RUSTC_BOOTSTRAP=1 enables them for this build only.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
command -v cargo-fuzz >/dev/null || cargo install --quiet --locked cargo-fuzz@0.13.1
media="$(scripts/make-test-media.sh)"
corpus="$CARGO_TARGET_DIR/fuzz-corpus"
mkdir -p "$corpus"/{mp4,smil,srt,index,ts,playlist,mux,http_head,sigv4}
# Seeds: the head of a faststart MP4 (ftyp + moov), the SMILs, the SRT.
head -c 65536 "$media/ladder_faststart.mp4" > "$corpus/mp4/faststart-head.mp4"
head -c 65536 "$media/hevc.mp4" > "$corpus/mp4/hevc-head.mp4"
cp "$media"/ladder/ladder.smil "$media"/two_audio.smil "$media"/broken/misaligned.smil "$corpus/smil/"
cp "$media"/ladder/subs_en.srt "$corpus/srt/"
head -c $((188 * 400)) "$media/hls/360p_000.ts" > "$corpus/ts/360p-head.ts"
cp "$media"/hls/*.m3u8 "$corpus/playlist/"
# HTTP heads: an egress GET with a range, a pipelined pair, a preflight, an API call.
printf 'GET /out/v1/a/b/c/m_v0_1.mp4 HTTP/1.1\r\nHost: h\r\nRange: bytes=0-99\r\nConnection: keep-alive, close\r\n\r\n' > "$corpus/http_head/get"
printf 'HEAD /out/v1/a/b/c/x.ts HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\nGET /out/v1/a/b/c/y.ts HTTP/1.1\r\n\r\n' > "$corpus/http_head/pipelined"
printf 'OPTIONS /out/v1/a/b/c/d HTTP/1.1\r\nOrigin: http://o\r\nAccess-Control-Request-Headers: range\r\n\r\n' > "$corpus/http_head/preflight"
printf 'HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 08:29:02 GMT\r\n\r\n' > "$corpus/http_head/hyper-414"
# SigV4: Authorization, X-Amz-Date, path, query, then headers (the AWS suite's get-vanilla).
printf 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/mediapackage-vod/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n20150830T123600Z\n/tags/arn%%3Aaws%%3Ax\nb=2&a=1\nx-amz-content-sha256: e3b0\n' > "$corpus/sigv4/get-vanilla"
# Inputs that once crashed or exhausted a target stay in its corpus (fuzz/regressions/TARGET).
for dir in fuzz/regressions/*/; do
  cp "$dir"* "$corpus/$(basename "$dir")/"
done
cargo build --quiet -p vodpack
"$CARGO_TARGET_DIR/debug/vodpack" inspect "$media/two_audio.smil" --write-index "$corpus/index/two_audio.idx" > /dev/null
"$CARGO_TARGET_DIR/debug/vodpack" inspect "$media/ladder/ladder.smil" --write-index "$corpus/index/ladder.idx" > /dev/null
"$CARGO_TARGET_DIR/debug/vodpack" inspect "$media/hls/master.m3u8" --write-index "$corpus/mux/hls.idx" > /dev/null
cp "$corpus/index/two_audio.idx" "$corpus/mux/"
cargo fuzz build --fuzz-dir fuzz --sanitizer none
log="$CARGO_TARGET_DIR/fuzz.log"
for target in mp4 smil srt index ts playlist mux http_head sigv4; do
  echo "fuzz: $target for ${secs}s"
  rc=0
  cargo fuzz run --fuzz-dir fuzz --sanitizer none "$target" "$corpus/$target" -- \
    -max_total_time="$secs" -max_len=131072 -rss_limit_mb=2048 -print_final_stats=1 > "$log" 2>&1 || rc=$?
  grep -E "^stat::(number_of_executed_units|new_units_added)" "$log" | sed "s/^/  /" || true
  if [ "$rc" -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz: $target failed (exit $rc); reproduce with: cargo fuzz run --fuzz-dir fuzz $target fuzz/artifacts/$target/<file>"
    exit 1
  fi
done
echo "fuzz: all targets ran without a crash"
