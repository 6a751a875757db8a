#!/usr/bin/env python3
"""A SPEKE v1/v2 key server for vodpack's tests (loopback only).

Behaviour (research notes SPEKE.md section 7.2):
- POST any path: a CPIX request, read by namespace. `X-Speke-Version` absent => SPEKE v1
  (content id = CPIX@id); "2.0" => v2 (CPIX@contentId, version 2.3, commonEncryptionScheme
  checked, 422 with MediaPackage's messages); anything else => 422 "Unsupported SPEKE version".
- The request document is echoed with the requested children filled in:
  keys are HMAC-SHA256(secret, contentId || 0x00 || kid_bytes)[:16]; optional explicitIV (same
  HMAC with an "iv" label first); PSSH / PlayReady PRO / W3C common PSSH computed from the KID
  (ENCRYPTION.md section 5); URIExtXKey = this server's /key/<contentId>/<kid> (AES-128 and
  ClearKey systems; FairPlay gets skd://<contentId>/<kid>); v2 HLSSignalingData media/master.
- GET /key/<contentId>/<kid> answers the raw 16-byte key, to any origin (CORS: players in a
  browser fetch it from an HLS key URI).
- POST /control {"fault": "500"|"422"|"wrong_kid"|"kid_override"|"missing_key"|"bad_base64"|
  "slow"|"wrong_key_url"|null, "delay": seconds, "explicit_iv": bool} switches faults
  ("wrong_key_url": CPIX answers stay right, the key URL answers the key with every bit
  flipped); GET /requests lists every CPIX request (path, headers, body).

Usage: server.py [--port 0] [--secret TEXT] [--explicit-iv] [--tls-dir DIR]; prints
"listening on http://127.0.0.1:PORT" once ready. With --tls-dir it serves HTTPS with a
certificate for 127.0.0.1 issued by a fresh test CA, whose certificate it writes to DIR/ca.pem.
"""

import argparse
import base64
import hashlib
import hmac
import json
import struct
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CPIX = "urn:dashif:org:cpix"
PSKC = "urn:ietf:params:xml:ns:keyprov:pskc"
SPEKE = "urn:aws:amazon:com:speke"
ET.register_namespace("cpix", CPIX)
ET.register_namespace("pskc", PSKC)
ET.register_namespace("speke", SPEKE)

WIDEVINE = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
PLAYREADY = "9a04f079-9840-4286-ab92-e65be0885f95"
FAIRPLAY = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2"
COMMON = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
CLEARKEY_AES = {"81376844-f976-481e-a84e-cc25d39b0b33", "3ea8778f-7742-4bf9-b18b-e834b2acbd47"}


def q(ns, name):
    return "{%s}%s" % (ns, name)


def b64(b):
    return base64.b64encode(b).decode()


class State:
    def __init__(self, secret, explicit_iv):
        self.secret = secret.encode()
        self.explicit_iv = explicit_iv
        self.fault = None
        self.delay = 5.0
        self.requests = []
        self.lock = threading.Lock()
        self.base = ""


def key_for(state, content_id, kid_bytes):
    return hmac.new(state.secret, content_id.encode() + b"\x00" + kid_bytes, hashlib.sha256).digest()[:16]


def iv_for(state, content_id, kid_bytes):
    return hmac.new(state.secret, b"iv\x00" + content_id.encode() + b"\x00" + kid_bytes, hashlib.sha256).digest()[:16]


def pssh_box(system_id, data, kids=None):
    sid = uuid.UUID(system_id).bytes
    if kids is None:
        body = struct.pack(">I", 0) + sid + struct.pack(">I", len(data)) + data
    else:
        body = (struct.pack(">I", 1 << 24) + sid + struct.pack(">I", len(kids)) + b"".join(kids)
                + struct.pack(">I", len(data)) + data)
    return struct.pack(">I", 8 + len(body)) + b"pssh" + body


def widevine_pssh(kid):
    # WidevinePsshData: key_id (field 2), protection_scheme (field 9) = 'cenc'.
    data = b"\x12\x10" + kid + b"\x48\xe3\xdc\x95\x9b\x06"
    return pssh_box(WIDEVINE, data)


def guid_le(kid):
    return kid[3::-1] + kid[5:3:-1] + kid[7:5:-1] + kid[8:]


def playready_pro(kid, key):
    kid_le = guid_le(kid)
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    checksum = (enc.update(kid_le) + enc.finalize())[:8]
    xml = ('<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0">'
           "<DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO>"
           "<KID>%s</KID><CHECKSUM>%s</CHECKSUM></DATA></WRMHEADER>" % (b64(kid_le), b64(checksum)))
    rec = xml.encode("utf-16-le")
    return struct.pack("<IHHH", 10 + len(rec), 1, 1, len(rec)) + rec


def pssh_for(system_id, kid, key):
    if system_id == WIDEVINE:
        return widevine_pssh(kid)
    if system_id == PLAYREADY:
        return pssh_box(PLAYREADY, playready_pro(kid, key))
    # W3C common PSSH (and any other system: a v1 box with the KID, no data).
    return pssh_box(COMMON if system_id not in (WIDEVINE, PLAYREADY) else system_id, b"", [kid])


def key_format(system_id):
    return {
        FAIRPLAY: "com.apple.streamingkeydelivery",
        WIDEVINE: "urn:uuid:" + WIDEVINE,
        PLAYREADY: "com.microsoft.playready",
    }.get(system_id, "identity")


def key_uri(state, system_id, content_id, kid_text, pssh):
    if system_id == FAIRPLAY:
        return "skd://%s/%s" % (content_id, kid_text)
    if system_id in (WIDEVINE, PLAYREADY):
        return "data:text/plain;base64," + b64(pssh)
    return "%s/key/%s/%s" % (state.base, content_id, kid_text)


class Handler(BaseHTTPRequestHandler):
    server_version = "vodpack-test-speke"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    @property
    def state(self):
        return self.server.state

    def send(self, status, body, ctype="text/plain", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the "slow" fault)

    def do_GET(self):
        if self.path == "/requests":
            with self.state.lock:
                return self.send(200, json.dumps(self.state.requests), "application/json")
        parts = self.path.split("/")
        if len(parts) == 4 and parts[1] == "key":
            try:
                kid = uuid.UUID(parts[3]).bytes
            except ValueError:
                return self.send(400, "bad kid")
            key = key_for(self.state, parts[2], kid)
            with self.state.lock:
                if self.state.fault == "wrong_key_url":
                    key = bytes(b ^ 0xFF for b in key)
            return self.send(200, key, "application/octet-stream",
                             [("Access-Control-Allow-Origin", "*"), ("Cache-Control", "no-store")])
        self.send(404, "not found")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path == "/control":
            c = json.loads(body or b"{}")
            with self.state.lock:
                if "fault" in c:
                    self.state.fault = c["fault"]
                if "delay" in c:
                    self.state.delay = float(c["delay"])
                if "explicit_iv" in c:
                    self.state.explicit_iv = bool(c["explicit_iv"])
            return self.send(200, "ok")
        with self.state.lock:
            self.state.requests.append({
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            })
            fault, delay = self.state.fault, self.state.delay
        if fault == "slow":
            time.sleep(delay)
        if fault == "500":
            return self.send(500, "Internal Server Error (fault injected)")
        if fault == "422":
            return self.send(422, "Missing CPIX@contentId")
        try:
            status, out, headers = self.answer(body, fault)
        except ET.ParseError:
            return self.send(400, "malformed CPIX")
        if status != 200:
            return self.send(status, out)
        self.send(200, out, "application/xml", headers)

    def answer(self, body, fault):
        version = self.headers.get("X-Speke-Version")
        if version not in (None, "2.0"):
            return 422, "Unsupported SPEKE version", []
        root = ET.fromstring(body)
        if root.tag != q(CPIX, "CPIX"):
            return 400, "not a CPIX document", []
        keys = root.findall("./%s/%s" % (q(CPIX, "ContentKeyList"), q(CPIX, "ContentKey")))
        if version == "2.0":
            content_id = root.get("contentId")
            if not content_id:
                return 422, "Missing CPIX@contentId", []
            if root.get("version") is None:
                return 422, "Missing CPIX@version", []
            if root.get("version") != "2.3":
                return 422, "Unsupported CPIX@version", []
            schemes = set()
            for ck in keys:
                s = ck.get("commonEncryptionScheme")
                if not s:
                    return 422, "Missing ContentKey@commonEncryptionScheme for KID %s" % ck.get("kid"), []
                schemes.add(s)
            if len(schemes) > 1:
                return 422, "Non compliant ContentKey@commonEncryptionScheme combination", []
            headers = [("X-Speke-Version", "2.0"), ("X-Speke-User-Agent", "vodpack-test-speke")]
        else:
            content_id = root.get("id") or ""
            headers = [("Speke-User-Agent", "vodpack-test-speke")]
        st = self.state
        values = {}
        for ck in keys:
            kid = uuid.UUID(ck.get("kid")).bytes
            key = key_for(st, content_id, kid)
            values[ck.get("kid")] = (kid, key)
            data = ET.SubElement(ck, q(CPIX, "Data"))
            secret = ET.SubElement(data, q(PSKC, "Secret"))
            pv = ET.SubElement(secret, q(PSKC, "PlainValue"))
            pv.text = b64(key)
            if st.explicit_iv:
                ck.set("explicitIV", b64(iv_for(st, content_id, kid)))
        for d in root.findall("./%s/%s" % (q(CPIX, "DRMSystemList"), q(CPIX, "DRMSystem"))):
            kid_text = d.get("kid")
            if kid_text not in values:
                continue
            kid, key = values[kid_text]
            sid = d.get("systemId").lower()
            pssh = pssh_for(sid, kid, key)
            uri = key_uri(st, sid, content_id, kid_text, pssh)
            method = "AES-128" if (sid in CLEARKEY_AES and version != "2.0") else "SAMPLE-AES"
            attrs = 'METHOD=%s,URI="%s"' % (method, uri)
            if sid in (WIDEVINE, PLAYREADY):
                attrs += ",KEYID=0x" + kid.hex()
            attrs += ',KEYFORMAT="%s",KEYFORMATVERSIONS="1"' % key_format(sid)
            for child in d:
                tag = child.tag
                if tag == q(CPIX, "PSSH"):
                    child.text = b64(pssh)
                elif tag == q(CPIX, "ContentProtectionData"):
                    x = '<pssh xmlns="urn:mpeg:cenc:2013">%s</pssh>' % b64(pssh)
                    if sid == PLAYREADY:
                        x += '<pro xmlns="urn:microsoft:playready">%s</pro>' % b64(playready_pro(kid, key))
                    child.text = b64(x.encode())
                elif tag == q(CPIX, "URIExtXKey"):
                    child.text = b64(uri.encode())
                elif tag == q(SPEKE, "KeyFormat"):
                    child.text = b64(key_format(sid).encode())
                elif tag == q(SPEKE, "KeyFormatVersions"):
                    child.text = b64(b"1")
                elif tag in (q(SPEKE, "ProtectionHeader"), q(CPIX, "SmoothStreamingProtectionHeaderData")):
                    child.text = b64(playready_pro(kid, key))
                elif tag == q(CPIX, "HLSSignalingData"):
                    line = "#EXT-X-KEY:" if child.get("playlist") == "media" else "#EXT-X-SESSION-KEY:"
                    child.text = b64((line + attrs).encode())
        apply_fault(root, keys, fault, st, content_id)
        return 200, ET.tostring(root, encoding="utf-8", xml_declaration=True), headers


def apply_fault(root, keys, fault, st, content_id):
    if not keys:
        return
    systems = root.findall("./%s/%s" % (q(CPIX, "DRMSystemList"), q(CPIX, "DRMSystem")))
    first = keys[0]
    pv = first.find("./%s/%s/%s" % (q(CPIX, "Data"), q(PSKC, "Secret"), q(PSKC, "PlainValue")))
    if fault == "missing_key":
        secret = first.find("./%s/%s" % (q(CPIX, "Data"), q(PSKC, "Secret")))
        secret.remove(pv)
    elif fault == "bad_base64":
        pv.text = "!!not*base64!!"
    elif fault in ("wrong_kid", "kid_override"):
        old = first.get("kid")
        new = str(uuid.uuid4())
        first.set("kid", new)
        if fault == "kid_override":
            # The key server's key for its own KID (what GET /key/<contentId>/<kid> answers).
            pv.text = b64(key_for(st, content_id, uuid.UUID(new).bytes))
        # kid_override: the systems follow the new KID (consistent); wrong_kid: they name yet
        # another KID nobody asked for or returned.
        other = new if fault == "kid_override" else str(uuid.uuid4())
        for d in systems:
            if d.get("kid") == old:
                d.set("kid", other)


def make_tls(dir_):
    """A test CA and a server certificate for 127.0.0.1 signed by it; returns an SSLContext."""
    import datetime
    import ipaddress
    import os
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vodpack test SPEKE CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    with open(os.path.join(dir_, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(pem))
    chain = os.path.join(dir_, "server.pem")
    with open(chain, "wb") as f:
        f.write(cert.public_bytes(pem))
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain)
    return ctx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--secret", default="vodpack-speke-test-secret")
    ap.add_argument("--explicit-iv", action="store_true")
    ap.add_argument("--tls-dir")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.state = State(a.secret, a.explicit_iv)
    scheme = "http"
    if a.tls_dir:
        srv.socket = make_tls(a.tls_dir).wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    port = srv.server_address[1]
    srv.state.base = "%s://127.0.0.1:%d" % (scheme, port)
    print("listening on %s" % srv.state.base, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
