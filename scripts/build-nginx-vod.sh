#!/usr/bin/env bash
# Builds nginx with nginx-vod-module for the egress benchmark's optional third server
# (BENCH_NGINX_VOD=<prefix>/sbin/nginx scripts/bench-egress.sh).
#
#   scripts/build-nginx-vod.sh NGINX_SRC VOD_SRC [PREFIX]
#
# NGINX_SRC: an nginx source tree (a release tarball, or a checkout of github.com/nginx/nginx,
# e.g. tag release-1.22.1); VOD_SRC: a checkout of github.com/kaltura/nginx-vod-module. Neither
# is fetched here: CI machines reach only Debian, PyPI, npm and crates.io, so this comparison is
# run by hand. PREFIX defaults to /var/cache/vodpack/nginx-vod. Built as the module's README
# recommends for performance: thread pool (async open, aio), -O3.
set -euo pipefail
nginx_src="$(cd "${1:?NGINX_SRC}" && pwd)"
vod_src="$(cd "${2:?VOD_SRC}" && pwd)"
prefix="${3:-/var/cache/vodpack/nginx-vod}"
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential libpcre2-dev \
  zlib1g-dev libssl-dev > /dev/null
build="$(mktemp -d /tmp/nginx-vod-build.XXXXXX)"
trap 'rm -rf "$build"' EXIT
cp -a "$nginx_src/." "$build/"
cd "$build"
configure=./configure
[ -x "$configure" ] || configure=auto/configure
"$configure" --prefix="$prefix" --with-threads --with-file-aio --with-cc-opt='-O3' \
  --add-module="$vod_src" > configure.log
make -j"$(nproc)" > make.log
make install > /dev/null
echo "$prefix/sbin/nginx"
