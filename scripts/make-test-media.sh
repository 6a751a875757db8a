#!/usr/bin/env bash
# Generates the test media deterministically with ffmpeg (libx264, libx265, aac) into OUT
# (default: $VODPACK_TEST_MEDIA or /var/cache/vodpack/test-media/<version>). Nothing large is
# committed; this script is the recipe. Re-running with the same ffmpeg gives the same bytes.
#
#   scripts/make-test-media.sh [OUT] [--duration SECONDS]
#
# Produces:
#   ladder/            3-rendition H.264+AAC ladder (360p/540p/720p), 2 s closed GOPs, 25 fps,
#                      B-frames (ctts + edit lists), moov at the end (ffmpeg default)
#   ladder/ladder.smil SMIL listing the ladder plus an SRT subtitle
#   ladder/subs_en.srt the SRT
#   ladder_faststart.mp4     720p rendition with moov first (+faststart)
#   hevc.mp4           H.265 (hvc1) + AAC, 2 s GOPs
#   two_audio.mp4      H.264 + two AAC tracks (eng, fra) in one file, and two_audio.smil
#   ac3.mp4            H.264 + AC-3 audio;  eac3.mp4: H.264 + E-AC-3 audio
#   hls/               HLS-TS version of the ladder: master.m3u8 + media playlists + .ts
#   hls_alt/           HLS-TS with video-only variant + separate French audio rendition
#   hls_hevc/, hls_ac3/, hls_eac3/   HLS-TS media playlists with H.265 video, AC-3, E-AC-3 audio
#   hls_subs/          the 360p variant plus a segmented WebVTT subtitle rendition
#   co64.mp4           360p rendition with 64-bit chunk offsets (stco rewritten as co64)
#   negative_cts.mp4   360p rendition with signed composition offsets (ctts v1), no edit list
#   audio_only.mp4     the 360p rendition's AAC alone
#   short_audio.mp4    12 s of video with only the first 4 s of audio
#   late_audio.mp4     12 s of video with audio starting at 4 s (an empty edit delays it)
#   broken/            truncated.mp4, corrupt_box.mp4, misaligned.smil (+ its renditions),
#                      encrypted.mp4 (CENC: encv/enca sample entries), eleven_tracks.mp4,
#                      unsupported_codec.mp4 (MPEG-4 Part 2 video), not_media.mp4, empty.mp4
set -euo pipefail

version=8 # bump when the recipe changes, so caches of older media are not reused
duration=12
out="${VODPACK_TEST_MEDIA:-/var/cache/vodpack/test-media/v$version}"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    *) out="$1"; shift ;;
  esac
done

if [ -f "$out/.complete" ] && [ "$(cat "$out/.complete")" == "v$version d$duration" ]; then
  echo "$out"
  exit 0
fi
command -v ffmpeg >/dev/null || { echo "make-test-media: ffmpeg is required (apt-get install ffmpeg)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/ladder" "$out/hls" "$out/broken"

ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
# Deterministic output: one thread, bit-exact flags, no encoder/creation-time metadata.
det=(-threads 1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact -map_metadata -1)
fps=25
gop=$((fps * 2))
video_src() { echo "testsrc2=size=$1:rate=$fps:duration=$duration"; }
audio_src() { echo "sine=frequency=$1:sample_rate=48000:duration=$duration"; }
x264() { echo "-c:v libx264 -preset veryfast -profile:v $1 -pix_fmt yuv420p -g $gop -keyint_min $gop -sc_threshold 0 -bf 2 -b:v $2 -maxrate $2 -bufsize $2"; }

# The ladder.
declare -A sizes=([360]=640x360 [540]=960x540 [720]=1280x720)
declare -A rates=([360]=400k [540]=800k [720]=1500k)
declare -A profiles=([360]=main [540]=main [720]=high)
for h in 360 540 720; do
  # shellcheck disable=SC2046
  ff -f lavfi -i "$(video_src "${sizes[$h]}")" -f lavfi -i "$(audio_src 440)" \
    $(x264 "${profiles[$h]}" "${rates[$h]}") -c:a aac -b:a 96k -ac 2 \
    -metadata:s:a:0 language=eng "${det[@]}" "$out/ladder/ladder_${h}p.mp4"
done
cat > "$out/ladder/subs_en.srt" <<'SRT'
1
00:00:00,500 --> 00:00:02,000
Hello from vodpack.

2
00:00:03,000 --> 00:00:05,250
Second cue, with <i>markup</i>
on two lines.

3
00:00:07,000 --> 00:00:09,000
Third cue.
SRT
cat > "$out/ladder/ladder.smil" <<'SMIL'
<?xml version="1.0" encoding="UTF-8"?>
<smil>
  <body>
    <switch>
      <video src="ladder_360p.mp4" systemLanguage="eng" audioName="English"/>
      <video src="ladder_540p.mp4" systemLanguage="eng" audioName="English" includeAudio="false"/>
      <video name="ladder_720p.mp4" language="eng" audioName="English" includeAudio="false"/>
      <textstream src="subs_en.srt" systemLanguage="eng" subtitleName="English"/>
    </switch>
  </body>
</smil>
SMIL
ff -i "$out/ladder/ladder_720p.mp4" -c copy -movflags +faststart "${det[@]}" "$out/ladder_faststart.mp4"

# H.265.
# shellcheck disable=SC2046
ff -f lavfi -i "$(video_src 640x360)" -f lavfi -i "$(audio_src 440)" \
  -c:v libx265 -preset ultrafast -tag:v hvc1 -pix_fmt yuv420p \
  -x265-params "keyint=$gop:min-keyint=$gop:scenecut=0:bframes=2:log-level=error:pools=1:frame-threads=1" \
  -b:v 500k -c:a aac -b:a 96k "${det[@]}" "$out/hevc.mp4"

# Two audio languages in one MP4.
# shellcheck disable=SC2046
ff -f lavfi -i "$(video_src 640x360)" -f lavfi -i "$(audio_src 440)" -f lavfi -i "$(audio_src 660)" \
  -map 0:v -map 1:a -map 2:a $(x264 main 400k) -c:a aac -b:a 96k -ac 2 \
  -metadata:s:a:0 language=eng -metadata:s:a:1 language=fra "${det[@]}" "$out/two_audio.mp4"
cat > "$out/two_audio.smil" <<'SMIL'
<smil><body><switch>
  <video src="two_audio.mp4" systemLanguage="eng,fra" audioName="English,French" includeAudio="true,true"/>
</switch></body></smil>
SMIL

# AC-3 and E-AC-3 audio.
for codec in ac3 eac3; do
  # shellcheck disable=SC2046
  ff -f lavfi -i "$(video_src 640x360)" -f lavfi -i "$(audio_src 440)" \
    $(x264 main 400k) -c:a "$codec" -b:a 192k -ac 2 "${det[@]}" "$out/$codec.mp4"
done

# HLS-TS version of the ladder (same encodes, remuxed; 6 s segments).
for h in 360 540 720; do
  ff -i "$out/ladder/ladder_${h}p.mp4" -c copy -bsf:v h264_mp4toannexb -f hls -hls_time 6 \
    -hls_playlist_type vod -hls_segment_filename "$out/hls/${h}p_%03d.ts" "${det[@]}" "$out/hls/${h}p.m3u8"
done
{
  echo "#EXTM3U"
  echo "#EXT-X-VERSION:3"
  echo '#EXT-X-STREAM-INF:BANDWIDTH=600000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"'
  echo "360p.m3u8"
  echo '#EXT-X-STREAM-INF:BANDWIDTH=1000000,RESOLUTION=960x540,CODECS="avc1.4d401f,mp4a.40.2"'
  echo "540p.m3u8"
  echo '#EXT-X-STREAM-INF:BANDWIDTH=1800000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"'
  echo "720p.m3u8"
} > "$out/hls/master.m3u8"
# HLS-TS with H.265 video, and with AC-3 / E-AC-3 audio.
for src in hevc ac3 eac3; do
  bsf=h264_mp4toannexb
  [ "$src" = hevc ] && bsf=hevc_mp4toannexb
  mkdir -p "$out/hls_$src"
  ff -i "$out/$src.mp4" -c copy -bsf:v "$bsf" -f hls -hls_time 6 -hls_playlist_type vod \
    -hls_segment_filename "$out/hls_$src/seg_%03d.ts" "${det[@]}" "$out/hls_$src/index.m3u8"
done
# HLS with WebVTT subtitles: the 360p variant plus a segmented WebVTT rendition whose
# X-TIMESTAMP-MAP anchors local time 0 at the first video PTS of the TS.
mkdir -p "$out/hls_subs"
pts=$(ffprobe -v error -select_streams v -read_intervals "%+#1" -show_entries packet=pts -of csv=p=0 \
  "$out/hls/360p_000.ts" | sed -n 1p | tr -d ', ')
python3 - "$out/hls_subs" "$pts" <<'PY'
import sys
out, pts = sys.argv[1], int(sys.argv[2])
head = f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{pts},LOCAL:00:00:00.000\n\n"
cues = [
    [("00:00.500", "00:02.000", "Hello from vodpack."), ("00:03.000", "00:05.250", "Second cue."),
     ("00:05.500", "00:06.500", "Across the boundary.")],
    [("00:05.500", "00:06.500", "Across the boundary."), ("00:07.000", "00:09.000", "Third cue.")],
]
for i, seg in enumerate(cues):
    body = "".join(f"{a} --> {b}\n{t}\n\n" for a, b, t in seg)
    open(f"{out}/subs_en_{i}.vtt", "w").write(head + body)
open(f"{out}/subs_en.m3u8", "w").write(
    "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    "#EXTINF:6.0,\nsubs_en_0.vtt\n#EXTINF:6.0,\nsubs_en_1.vtt\n#EXT-X-ENDLIST\n")
open(f"{out}/master.m3u8", "w").write(
    "#EXTM3U\n#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"eng\",URI=\"subs_en.m3u8\"\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=600000,SUBTITLES=\"subs\"\n../hls/360p.m3u8\n")
PY
# HLS with a separate audio rendition (EXT-X-MEDIA): video-only and audio-only TS.
mkdir -p "$out/hls_alt"
ff -i "$out/ladder/ladder_540p.mp4" -map 0:v -c copy -bsf:v h264_mp4toannexb -f hls -hls_time 6 \
  -hls_playlist_type vod -hls_segment_filename "$out/hls_alt/video_%03d.ts" "${det[@]}" "$out/hls_alt/video.m3u8"
ff -i "$out/two_audio.mp4" -map 0:a:1 -c copy -f hls -hls_time 6 -hls_playlist_type vod \
  -hls_segment_filename "$out/hls_alt/audio_fra_%03d.ts" "${det[@]}" "$out/hls_alt/audio_fra.m3u8"
cat > "$out/hls_alt/master.m3u8" <<'M3U8'
#EXTM3U
#EXT-X-VERSION:4
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Français",LANGUAGE="fra",DEFAULT=YES,AUTOSELECT=YES,URI="audio_fra.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1000000,RESOLUTION=960x540,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="aud"
video.m3u8
M3U8

# 64-bit chunk offsets: moov is after mdat, so rewriting stco as co64 moves no media.
python3 - "$out/ladder/ladder_360p.mp4" "$out/co64.mp4" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}
def rewrite(buf):
    out, i = bytearray(), 0
    while i < len(buf):
        size, kind = struct.unpack(">I4s", buf[i:i + 8])
        body = buf[i + 8:i + size]
        if kind in CONTAINERS:
            body = rewrite(body)
        elif kind == b"stco":
            n = struct.unpack(">I", body[4:8])[0]
            offs = struct.unpack(">%dI" % n, body[8:8 + 4 * n])
            body, kind = body[:8] + struct.pack(">%dQ" % n, *offs), b"co64"
        out += struct.pack(">I4s", len(body) + 8, kind) + body
        i += size
    return bytes(out)
i = data.find(b"moov") - 4
moov_size = struct.unpack(">I", data[i:i + 4])[0]
assert i + moov_size == len(data), "moov must be last"
open(sys.argv[2], "wb").write(data[:i] + rewrite(data[i:]))
PY
ff -i "$out/ladder/ladder_360p.mp4" -c copy -movflags +negative_cts_offsets "${det[@]}" "$out/negative_cts.mp4"
ff -i "$out/ladder/ladder_360p.mp4" -map 0:a -c copy "${det[@]}" "$out/audio_only.mp4"
ff -i "$out/ladder/ladder_360p.mp4" -t 4 -i "$out/ladder/ladder_360p.mp4" -map 0:v -map 1:a -c copy \
  "${det[@]}" "$out/short_audio.mp4"
ff -i "$out/ladder/ladder_360p.mp4" -itsoffset 4 -i "$out/ladder/ladder_360p.mp4" -map 0:v -map 1:a \
  -c copy -t 12 "${det[@]}" "$out/late_audio.mp4"

# Broken inputs.
src="$out/ladder/ladder_360p.mp4"
size=$(stat -c %s "$src")
head -c $((size / 2)) "$src" > "$out/broken/truncated.mp4"
# A box inside moov claims more bytes than its parent has.
python3 - "$src" "$out/broken/corrupt_box.mp4" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
i = data.find(b"stsz")
assert i > 4
struct.pack_into(">I", data, i - 4, 0x7FFFFFF0)
open(sys.argv[2], "wb").write(data)
PY
# shellcheck disable=SC2046
ff -f lavfi -i "$(video_src 640x360)" -f lavfi -i "$(audio_src 440)" \
  -c:v libx264 -preset veryfast -g 37 -keyint_min 37 -sc_threshold 0 -b:v 400k -c:a aac -b:a 96k \
  "${det[@]}" "$out/broken/misaligned_gop37.mp4"
cp "$out/ladder/ladder_360p.mp4" "$out/broken/aligned_360p.mp4"
cat > "$out/broken/misaligned.smil" <<'SMIL'
<smil><body><switch>
  <video src="aligned_360p.mp4" systemLanguage="eng"/>
  <video src="misaligned_gop37.mp4" systemLanguage="eng" includeAudio="false"/>
</switch></body></smil>
SMIL
ff -f lavfi -i "$(video_src 320x240)" -c:v mpeg4 -g $gop "${det[@]}" "$out/broken/unsupported_codec.mp4"
# 11 tracks in one file (video + 10 audio): one more than the 10 per ingest stream allowed.
ff -i "$out/ladder/ladder_360p.mp4" -map 0:v $(for _ in $(seq 10); do echo -map 0:a; done) -c copy \
  "${det[@]}" "$out/broken/eleven_tracks.mp4"
printf 'this is not an mp4 file at all\n' > "$out/broken/not_media.mp4"
ff -i "$out/ladder/ladder_360p.mp4" -c copy -encryption_scheme cenc-aes-ctr \
  -encryption_key 00112233445566778899aabbccddeeff -encryption_kid 00112233445566778899aabbccddeeff \
  "${det[@]}" "$out/broken/encrypted.mp4"
: > "$out/broken/empty.mp4"

echo "v$version d$duration" > "$out/.complete"
echo "$out"
