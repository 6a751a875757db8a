#!/usr/bin/env python3
"""An independent Common Encryption decryptor for vodpack's tests: shares no code with the
packager (its own box walker, Python `cryptography` for AES).

    fmp4.py KEY_HEX INIT ENCRYPTED_FRAGMENT CLEAR_FRAGMENT

Reads the scheme, IV size, constant IV and pattern from the init segment's `sinf`
(`schm`, `tenc`), each sample's IV and subsample map from the encrypted fragment's `senc`
(located through `saiz`/`saio`, and checked against it), decrypts every sample of the
fragment's `mdat` and compares it with the same sample of the clear fragment, byte for byte.
Rules (ISO/IEC 23001-7 as FFmpeg's mov.c applies them): `cenc` = AES-CTR, counter block
IV(8) || 64-bit block counter from 0, one keystream per sample across its protected ranges;
`cbcs` = AES-CBC from the constant IV at each protected range, crypt:skip pattern over
16-byte blocks, chaining through encrypted blocks only, a trailing partial run clear.
Exit status 0 and "N samples identical" when all match.
"""
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def boxes(buf, start=0, end=None):
    """(type, payload_start, box_start, box_end) of each box in buf[start:end]."""
    end = len(buf) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", buf[pos:pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", buf[pos + 8:pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"bad box {kind!r} at {pos}")
        yield kind.decode("latin-1"), pos + header, pos, pos + size
        pos += size


def child(buf, start, end, kind):
    for k, p, s, e in boxes(buf, start, end):
        if k == kind:
            return p, e
    raise ValueError(f"no {kind} box")


def path(buf, start, end, *kinds):
    for k in kinds:
        start, end = child(buf, start, end, k)
    return start, end


def read_tenc(init):
    moov = child(init, 0, len(init), "moov")
    stsd = path(init, *moov, "trak", "mdia", "minf", "stbl", "stsd")
    entry_kind, p, s, e = next(boxes(init, stsd[0] + 8, stsd[1]))
    if entry_kind not in ("encv", "enca"):
        raise ValueError(f"sample entry {entry_kind} is not protected")
    video = entry_kind == "encv"
    # Visual sample entries have 78 bytes of fields, audio ones 28, before their children.
    sinf = child(init, p + (78 if video else 28), e, "sinf")
    schm = child(init, *sinf, "schm")
    scheme = init[schm[0] + 4:schm[0] + 8].decode()
    tenc = path(init, *sinf, "schi", "tenc")
    t = init[tenc[0]:tenc[1]]
    version = t[0]
    crypt, skip = (t[5] >> 4, t[5] & 15) if version >= 1 else (0, 0)
    protected, iv_size, kid = t[6], t[7], t[8:24]
    constant_iv = None
    if protected and iv_size == 0:
        n = t[24]
        constant_iv = t[25:25 + n]
    return dict(scheme=scheme, crypt=crypt, skip=skip, iv_size=iv_size, kid=kid,
                constant_iv=constant_iv, video=video)


def fragment(buf):
    """(moof_start, traf_range, sample sizes, data start) of a one-traf fragment."""
    for k, p, s, e in boxes(buf):
        if k == "moof":
            traf = child(buf, p, e, "traf")
            trun = child(buf, *traf, "trun")
            flags = int.from_bytes(buf[trun[0] + 1:trun[0] + 4], "big")
            count = struct.unpack(">I", buf[trun[0] + 4:trun[0] + 8])[0]
            q = trun[0] + 8
            data_offset = 0
            if flags & 1:
                data_offset = struct.unpack(">i", buf[q:q + 4])[0]
                q += 4
            if flags & 4:
                q += 4
            sizes = []
            for _ in range(count):
                if flags & 0x100:
                    q += 4
                if flags & 0x200:
                    sizes.append(struct.unpack(">I", buf[q:q + 4])[0])
                    q += 4
                if flags & 0x400:
                    q += 4
                if flags & 0x800:
                    q += 4
            return s, traf, sizes, s + data_offset
    raise ValueError("no moof")


def samples(buf):
    moof, traf, sizes, at = fragment(buf)
    out = []
    for n in sizes:
        out.append(buf[at:at + n])
        at += n
    return out


def aux_info(buf, tenc):
    """Per sample (iv, [(clear, protected)]) from senc, after checking saiz/saio."""
    moof, traf, sizes, _ = fragment(buf)
    kinds = {k: (p, e) for k, p, s, e in boxes(buf, *traf)}
    if "senc" not in kinds:
        return [(tenc["constant_iv"], []) for _ in sizes]
    senc_p, senc_e = kinds["senc"]
    flags = int.from_bytes(buf[senc_p + 1:senc_p + 4], "big")
    count = struct.unpack(">I", buf[senc_p + 4:senc_p + 8])[0]
    assert count == len(sizes), "senc count != trun count"
    saio_p, _ = kinds["saio"]
    offset = struct.unpack(">I", buf[saio_p + 8:saio_p + 12])[0]
    assert moof + offset == senc_p + 8, f"saio {offset} does not point at senc's first entry"
    saiz_p, _ = kinds["saiz"]
    default = buf[saiz_p + 4]
    q = senc_p + 8
    result = []
    for i in range(count):
        start = q
        iv = buf[q:q + tenc["iv_size"]] if tenc["iv_size"] else tenc["constant_iv"]
        q += tenc["iv_size"]
        subs = []
        if flags & 2:
            n = struct.unpack(">H", buf[q:q + 2])[0]
            q += 2
            for _ in range(n):
                subs.append(struct.unpack(">HI", buf[q:q + 6]))
                q += 6
        size = default or buf[saiz_p + 9 + i]
        assert q - start == size, f"saiz size {size} != senc entry {q - start}"
        result.append((iv, subs))
    assert q == senc_e, "senc has trailing bytes"
    return result


def ranges(sample, subs):
    if not subs:
        return [(0, len(sample))]
    out, at = [], 0
    for clear, prot in subs:
        at += clear
        out.append((at, at + prot))
        at += prot
    assert at == len(sample), f"subsamples cover {at} of {len(sample)} bytes"
    return out


def decrypt(key, tenc, sample, iv, subs):
    data = bytearray(sample)
    if tenc["scheme"] in ("cenc", "piff"):
        ctr = Cipher(algorithms.AES(key), modes.CTR(bytes(iv) + bytes(8))).decryptor()
        for a, b in ranges(sample, subs):
            data[a:b] = ctr.update(bytes(data[a:b]))
        return bytes(data)
    if tenc["scheme"] != "cbcs":
        raise ValueError(f"scheme {tenc['scheme']}")
    crypt, skip = tenc["crypt"], tenc["skip"]
    if crypt == 0:
        crypt, skip = 1, 0
    for a, b in ranges(sample, subs):
        cbc = Cipher(algorithms.AES(key), modes.CBC(bytes(iv))).decryptor()
        pos = a
        while pos + 16 * crypt <= b:
            n = 16 * crypt
            data[pos:pos + n] = cbc.update(bytes(data[pos:pos + n]))
            pos += n + 16 * skip
    return bytes(data)


def main():
    key = bytes.fromhex(sys.argv[1])
    init, enc, clear = (open(p, "rb").read() for p in sys.argv[2:5])
    tenc = read_tenc(init)
    enc_samples, clear_samples = samples(enc), samples(clear)
    info = aux_info(enc, tenc)
    if len(enc_samples) != len(clear_samples):
        print(f"{len(enc_samples)} encrypted samples, {len(clear_samples)} clear")
        return 1
    bad = 0
    changed = 0
    for i, (e, c, (iv, subs)) in enumerate(zip(enc_samples, clear_samples, info)):
        changed += e != c
        if decrypt(key, tenc, e, iv, subs) != c:
            bad += 1
    print(f"{tenc['scheme']}: {len(enc_samples) - bad} samples identical, {bad} differ, "
          f"{changed} were encrypted")
    return 0 if bad == 0 and changed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
