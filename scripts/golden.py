#!/usr/bin/env python3
"""Golden comparison for refactors: are two builds' outputs byte-identical?

Builds `vodpack` at two commits (the second may be the working tree) and, for each build,
  1. runs `vodpack package` for every test source x every configuration below (all four formats,
     the options the tests cover) and keeps every file it writes;
  2. starts `vodpack serve`, creates the same assets and configurations through the API, and
     crawls every file of every manifest (the names `package` wrote) over HTTP, recording the
     status, the headers that describe the body (all but Date, ETag and Last-Modified, which
     name the build and the moment) and the body's SHA-256;
then compares the two. Exit status 0 when identical, 1 with the differences listed otherwise.

    scripts/golden.py BASE [HEAD]      (HEAD: a commit, or omitted for the working tree)

Program date-times are left out of the configurations (they start at the moment of packaging).
Builds go to $CARGO_TARGET_DIR/golden/{base,head} (kept, so later runs rebuild only what changed).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SOURCES = {
    "smil": "ladder/ladder.smil",
    "mp4": "ladder_faststart.mp4",
    "co64": "co64.mp4",
    "hevc": "hevc.mp4",
    "two_audio": "two_audio.smil",
    "ac3": "ac3.mp4",
    "eac3": "eac3.mp4",
    "late_audio": "late_audio.mp4",
    "hls": "hls/master.m3u8",
    "hls_alt": "hls_alt/master.m3u8",
    "hls_subs": "hls_subs/master.m3u8",
    "hls_hevc": "hls_hevc/index.m3u8",
    "hls_ac3": "hls_ac3/index.m3u8",
}

def hls_manifest(**extra):
    m = {"manifestName": "m"}
    m.update(extra)
    return m

CONFIGS = {
    "hls": {"hlsPackage": {"hlsManifests": [hls_manifest()]}},
    "hls_groups": {"hlsPackage": {"segmentDurationSeconds": 4, "useAudioRenditionGroup": True,
                                  "hlsManifests": [hls_manifest(includeIframeOnlyStream=True,
                                                                streamSelection={"streamOrder": "VIDEO_BITRATE_DESCENDING"})]}},
    "cmaf": {"cmafPackage": {"hlsManifests": [hls_manifest(includeIframeOnlyStream=True)]}},
    "cmaf_inband": {"cmafPackage": {"segmentDurationSeconds": 2, "includeEncoderConfigurationInSegments": True,
                                    "hlsManifests": [hls_manifest()]}},
    "dash": {"dashPackage": {"dashManifests": [{"manifestName": "m"}]}},
    "dash_time": {"dashPackage": {"segmentTemplateFormat": "TIME_WITH_TIMELINE", "includeIframeOnlyStream": True,
                                  "dashManifests": [{"manifestName": "m", "manifestLayout": "COMPACT"}]}},
    "dash_number": {"dashPackage": {"segmentTemplateFormat": "NUMBER_WITH_DURATION", "segmentDurationSeconds": 4,
                                    "dashManifests": [{"manifestName": "m", "profile": "HBBTV_1_5",
                                                       "minBufferTimeSeconds": 10}]}},
    "mss": {"mssPackage": {"segmentDurationSeconds": 4, "mssManifests": [{"manifestName": "m"}]}},
}

ROLE = "arn:aws:iam::111122223333:role/MediaPackageSource"
KEPT_HEADERS = ("content-type", "content-length", "content-range", "cache-control", "content-encoding",
                "accept-ranges", "vary", "retry-after")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def build(rev, work):
    """The vodpack binary at `rev` (None: the working tree)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "golden"
    if rev is None:
        tree = ROOT
    else:
        tree = work / f"tree-{rev}"
        run(["git", "-C", str(ROOT), "worktree", "add", "--quiet", "--detach", str(tree), rev])
    # One target folder per side: cargo names a workspace crate's artifacts by its path relative
    # to the workspace, so two checkouts sharing a folder would take each other's builds as fresh.
    target = target / ("head" if rev is None else "base")
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    run(["cargo", "build", "--quiet", "--locked", "-p", "vodpack"], cwd=tree, env=env)
    out = work / f"vodpack-{rev or 'worktree'}"
    shutil.copy(target / "debug" / "vodpack", out)
    if rev is not None:
        run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)])
    return out


def media_dir():
    out = run([str(ROOT / "scripts/make-test-media.sh")], capture_output=True, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def package_all(binary, media, out):
    """`vodpack package` of every source x configuration into out/<source>/<config>/."""
    files = {}
    out.mkdir(parents=True, exist_ok=True)
    for sname, src in SOURCES.items():
        for cname, config in CONFIGS.items():
            cfg = out / f"{cname}.json"
            cfg.write_text(json.dumps(config))
            dest = out / sname / cname
            p = subprocess.run([str(binary), "package", str(media / src), "--config", str(cfg), "--out", str(dest)],
                               capture_output=True, text=True)
            (out / sname / f"{cname}.status").parent.mkdir(parents=True, exist_ok=True)
            (out / sname / f"{cname}.status").write_text(f"exit {p.returncode}\n")
            root = dest / "m"
            files[(sname, cname)] = sorted(str(f.relative_to(root)) for f in root.rglob("*") if f.is_file()) \
                if root.exists() else []
    return files


def api(endpoint, method, path, body=None):
    req = urllib.request.Request(endpoint + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"{}")


def crawl(binary, media, files, out):
    """Every file of every (source, configuration) through a running server."""
    data = Path(tempfile.mkdtemp(prefix="golden-data-"))
    shutil.copytree(media, data / "buckets" / "media")
    proc = subprocess.Popen([str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data),
                             "--insecure-no-auth"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        endpoint = None
        for line in proc.stdout:
            if line.startswith("listening on "):
                endpoint = line.split()[-1]
                break
        assert endpoint, "the server did not start"
        api(endpoint, "POST", "/packaging_groups", {"id": "g"})
        for cname, config in CONFIGS.items():
            api(endpoint, "POST", "/packaging_configurations", dict(config, id=cname, packagingGroupId="g"))
        for sname, src in SOURCES.items():
            api(endpoint, "POST", "/assets", {"id": sname, "packagingGroupId": "g",
                                              "sourceArn": f"arn:aws:s3:::media/{src}", "sourceRoleArn": ROLE})
        lines = []
        for sname in SOURCES:
            deadline = time.time() + 120
            while True:
                asset = api(endpoint, "GET", f"/assets/{sname}")
                states = {e["status"] for e in asset["egressEndpoints"]}
                if states <= {"PLAYABLE", "FAILED"}:
                    break
                assert time.time() < deadline, f"{sname} still {states}"
                time.sleep(0.1)
            for e in asset["egressEndpoints"]:
                cname = e["packagingConfigurationId"]
                base = e["url"][:e["url"].rindex("/m.")]
                names = files[(sname, cname)] or [e["url"][len(base) + 1:]]
                for name in names:
                    lines.append(f"{sname}/{cname}/{name} " + fetch(f"{base}/{name}"))
        (out / "crawl.txt").write_text("\n".join(lines) + "\n")
        return len(lines)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def fetch(url):
    try:
        r = urllib.request.urlopen(url)
        status, headers, body = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, body = e.code, e.headers, e.read()
    kept = ";".join(f"{h}={headers[h]}" for h in KEPT_HEADERS if headers.get(h) is not None)
    return f"{status} {kept} sha256={hashlib.sha256(body).hexdigest()}"


def collect(binary, media, out):
    out.mkdir(parents=True)
    files = package_all(binary, media, out / "package")
    n = crawl(binary, media, files, out)
    print(f"golden: {binary.name}: {sum(len(v) for v in files.values())} packaged files, {n} crawled URLs")


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        sys.exit(2)
    base, head = sys.argv[1], (sys.argv[2] if len(sys.argv) == 3 else None)
    media = media_dir()
    work = Path(tempfile.mkdtemp(prefix="golden-"))
    try:
        outs = []
        for rev in (base, head):
            binary = build(rev, work)
            out = work / f"out-{rev or 'worktree'}"
            collect(binary, media, out)
            outs.append(out)
        diff = subprocess.run(["diff", "-r", "-q", str(outs[0]), str(outs[1])], capture_output=True, text=True)
        crawl_diff = subprocess.run(["diff", str(outs[0] / "crawl.txt"), str(outs[1] / "crawl.txt")],
                                    capture_output=True, text=True)
        if diff.returncode == 0:
            print("golden: identical")
            return 0
        print(diff.stdout[:20000])
        print(crawl_diff.stdout[:20000])
        print("golden: DIFFERENT (outputs kept in", work, ")")
        return 1
    finally:
        if "diff" in locals() and diff.returncode == 0:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
