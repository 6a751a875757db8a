#!/usr/bin/env python3
"""Independent SAMPLE-AES (MPEG-TS) decryptor for the tests: shares no code with the packager.

Usage: sample_aes.py KEYHEX ENC.ts:CLEAR.ts:IVHEX [...]

For each pair of segments (encrypted, clear packaging of the same cut) it reads both TS files
(PAT, PMT, PES reassembly), checks the SAMPLE-AES signalling in the encrypted PMT (stream types
0xDB/0xCF/0xC1/0xC2 and their private data indicator descriptors), then decrypts:
- H.264 (0xDB): every NAL unit of type 1 or 5 longer than 48 bytes is un-escaped once
  (00 00 03 -> 00 00), then one 16-byte block in ten from offset 32 is AES-128-CBC decrypted
  while more than 16 bytes remain, the chain starting from the IV for every NAL unit (Apple,
  "MPEG-2 Stream Encryption Format for HTTP Live Streaming" 2.1); the result must equal the
  clear NAL unit;
- AAC (0xCF): every ADTS frame after its header and 16 clear bytes, whole blocks;
- AC-3/E-AC-3 (0xC1/0xC2): every syncframe after 16 clear bytes, whole blocks.
Prints one line per kind and exits 1 on any mismatch (or when no slice was checked).
"""
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CLEAR_TYPE = {0xDB: 0x1B, 0xCF: 0x0F, 0xC1: 0x81, 0xC2: 0x87}
AC3_WORDS = [
    [64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1152, 1280],
    [69, 87, 104, 121, 139, 174, 208, 243, 278, 348, 417, 487, 557, 696, 835, 975, 1114, 1253, 1393],
    [96, 120, 144, 168, 192, 240, 288, 336, 384, 480, 576, 672, 768, 960, 1152, 1344, 1536, 1728, 1920],
]
PRIVATE = {0xDB: b"zavc", 0xCF: b"aacd", 0xC1: b"ac3d", 0xC2: b"ec3d"}


def read_ts(data):
    """(pid -> stream_type, pid -> descriptors, pid -> [PES payloads])."""
    assert len(data) % 188 == 0, "whole packets"
    pmt_pid, types, descs, pes = None, {}, {}, {}
    for off in range(0, len(data), 188):
        p = data[off:off + 188]
        assert p[0] == 0x47
        pusi = p[1] & 0x40
        pid = ((p[1] & 0x1F) << 8) | p[2]
        afc = (p[3] >> 4) & 3
        start = 4 + (1 + p[4] if afc & 2 else 0)
        payload = p[start:] if afc & 1 else b""
        if pid == 0:
            sec = payload[1 + payload[0]:]
            pmt_pid = ((sec[10] & 0x1F) << 8) | sec[11]
        elif pid == pmt_pid:
            sec = payload[1 + payload[0]:]
            length = ((sec[1] & 0x0F) << 8) | sec[2]
            body = sec[12 + (((sec[10] & 0x0F) << 8) | sec[11]):3 + length - 4]
            i = 0
            while i < len(body):
                st, epid = body[i], ((body[i + 1] & 0x1F) << 8) | body[i + 2]
                n = ((body[i + 3] & 0x0F) << 8) | body[i + 4]
                types[epid], descs[epid] = st, bytes(body[i + 5:i + 5 + n])
                i += 5 + n
        elif pid in types:
            if pusi:
                pes.setdefault(pid, []).append(bytearray(payload))
            elif pes.get(pid):
                pes[pid][-1].extend(payload)
    out = {}
    for pid, units in pes.items():
        out[pid] = [bytes(u[9 + u[8]:]) for u in units]
    return types, descs, out


def nals(es):
    """NAL units of an Annex B stream (start codes and trailing zeros removed)."""
    starts, i = [], 0
    while True:
        i = es.find(b"\x00\x00\x01", i)
        if i < 0:
            break
        starts.append(i + 3)
        i += 3
    out = []
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(es)
        while end > s and es[end - 1] == 0:
            end -= 1
        out.append(es[s:end])
    return out


def unescape(b):
    out, zeros = bytearray(), 0
    for x in b:
        if zeros >= 2 and x == 3:
            zeros = 0
            continue
        zeros = zeros + 1 if x == 0 else 0
        out.append(x)
    return bytes(out)


def cbc_decrypt(key, iv, data):
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return d.update(data) + d.finalize()


def decrypt_nal(key, iv, nal):
    if not nal or (nal[0] & 0x1F) not in (1, 5) or len(nal) <= 48:
        return nal
    b = bytearray(unescape(nal))
    positions, pos = [], 32
    while len(b) - pos > 16:
        positions.append(pos)
        pos += 160
    plain = cbc_decrypt(key, iv, b"".join(bytes(b[p:p + 16]) for p in positions))
    for n, p in enumerate(positions):
        b[p:p + 16] = plain[16 * n:16 * n + 16]
    return bytes(b)


def decrypt_frame_payload(key, iv, data):
    whole = (len(data) - 16) // 16 * 16 if len(data) >= 32 else 0
    if not whole:
        return data
    return data[:16] + cbc_decrypt(key, iv, data[16:16 + whole]) + data[16 + whole:]


def audio_frames(st, unit):
    """(header length, frame) of each ADTS frame or AC-3 syncframe of a PES payload."""
    i, out = 0, []
    while i < len(unit):
        f = unit[i:]
        if st == 0xCF:
            assert f[0] == 0xFF and f[1] & 0xF0 == 0xF0, "ADTS sync"
            n = ((f[3] & 3) << 11) | (f[4] << 3) | (f[5] >> 5)
            hdr = 7 if f[1] & 1 else 9
        else:
            assert f[0] == 0x0B and f[1] == 0x77, "AC-3 sync"
            if (f[5] >> 3) <= 10:
                # AC-3: frmsizecod and fscod give the size in 16-bit words (A/52 table 5.18).
                fscod, code = f[4] >> 6, f[4] & 0x3F
                n = 2 * AC3_WORDS[fscod][code // 2] + (2 if fscod == 1 and code % 2 else 0)
            else:
                # E-AC-3: frmsiz is the size in words minus one.
                n = 2 * ((((f[2] & 7) << 8) | f[3]) + 1)
            hdr = 0
        out.append((hdr, f[:n]))
        i += n
    return out


def main():
    key = bytes.fromhex(sys.argv[1])
    stats = {"slices": [0, 0], "epb": 0, "audio": [0, 0], "other": [0, 0]}
    for arg in sys.argv[2:]:
        enc_path, clear_path, iv_hex = arg.rsplit(":", 2)
        iv = bytes.fromhex(iv_hex)
        et, ed, epes = read_ts(open(enc_path, "rb").read())
        ct, _, cpes = read_ts(open(clear_path, "rb").read())
        for pid, st in et.items():
            if st in CLEAR_TYPE:
                assert ct[pid] == CLEAR_TYPE[st], f"{enc_path}: pid {pid} stream type"
                assert ed[pid][:6] == b"\x0f\x04" + PRIVATE[st], f"{enc_path}: descriptor"
                if st != 0xDB:
                    assert ed[pid][6:8] == b"\x05" + bytes([len(ed[pid]) - 8]), "apad length"
                    assert ed[pid][8:12] == b"apad", "apad"
            else:
                assert ct[pid] == st, f"{enc_path}: pid {pid} clear stream changed"
            eu, cu = epes.get(pid, []), cpes.get(pid, [])
            assert len(eu) == len(cu), f"{enc_path}: pid {pid} PES count"
            for e, c in zip(eu, cu):
                if st == 0xDB:
                    en, cn = nals(e), nals(c)
                    assert len(en) == len(cn), f"{enc_path}: NAL count"
                    for a, b in zip(en, cn):
                        kind = "slices" if b and b[0] & 0x1F in (1, 5) else "other"
                        ok = decrypt_nal(key, iv, a) == b
                        stats[kind][0 if ok else 1] += 1
                        if kind == "slices" and b"\x00\x00\x03" in b:
                            stats["epb"] += 1
                elif st in (0xCF, 0xC1, 0xC2):
                    ef, cf = audio_frames(st, e), audio_frames(st, c)
                    assert len(ef) == len(cf), f"{enc_path}: frame count"
                    for (h, a), (_, b) in zip(ef, cf):
                        ok = a[:h] + decrypt_frame_payload(key, iv, a[h:]) == b
                        stats["audio"][0 if ok else 1] += 1
                else:
                    stats["other"][0 if e == c else 1] += 1
    s = stats
    print(f"slices: {s['slices'][0]} passed, {s['slices'][1]} failed "
          f"({s['epb']} with emulation prevention)")
    print(f"audio frames: {s['audio'][0]} passed, {s['audio'][1]} failed")
    print(f"other NAL units and clear streams: {s['other'][0]} passed, {s['other'][1]} failed")
    failed = s["slices"][1] + s["audio"][1] + s["other"][1]
    sys.exit(1 if failed or not s["slices"][0] else 0)


if __name__ == "__main__":
    main()
