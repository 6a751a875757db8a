#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 20 s each), seeded from the test
# media. Any crash fails the script. cargo-fuzz needs nightly compiler flags; on the stable
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
mkdir -p "$corpus"/{mp4,smil,srt,index,ts,playlist,mux}
# Seeds: the head of a faststart MP4 (ftyp + moov), the SMILs, the SRT.
head -c 65536 "$media/ladder_faststart.mp4" > "$corpus/mp4/faststart-head.mp4"
head -c 65536 "$media/hevc.mp4" > "$corpus/mp4/hevc-head.mp4"
cp "$media"/ladder/ladder.smil "$media"/two_audio.smil "$media"/broken/misaligned.smil "$corpus/smil/"
cp "$media"/ladder/subs_en.srt "$corpus/srt/"
head -c $((188 * 400)) "$media/hls/360p_000.ts" > "$corpus/ts/360p-head.ts"
cp "$media"/hls/*.m3u8 "$corpus/playlist/"
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
for target in mp4 smil srt index ts playlist mux; do
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
