#!/usr/bin/env bash
# Install the Debian packages WeaveIt needs, only those that are missing.
# Usage: scripts/deps.sh [build|run|test|bench|deb]...  (default: all)
set -euo pipefail

build_pkgs="gcc make pkg-config nginx-core nginx-dev libpcre2-dev zlib1g-dev
    libssl-dev libpq-dev uuid-dev libjansson-dev libespeak-ng-dev
    espeak-ng-data libavcodec-dev libavformat-dev libavutil-dev
    libswresample-dev libswscale-dev libfreetype-dev fonts-dejavu-core
    libharfbuzz-dev libfribidi-dev libunibreak-dev libfontconfig-dev
    libseccomp-dev libcurl4-openssl-dev g++ libsource-highlight-dev"
run_pkgs="postgresql-15 postgresql-client-15 curl fonts-noto-core
    fonts-noto-cjk fonts-noto-color-emoji"
# pkg:command entries are satisfied by the command from anywhere (a Node.js
# from another source ships its own npm, which conflicts with Debian's).
test_pkgs="perl procps iproute2 ffmpeg espeak-ng valgrind chromium clang
    pgbouncer strace libfuzzer-14-dev prometheus tesseract-ocr
    tesseract-ocr-chi-sim tesseract-ocr-jpn tesseract-ocr-kor
    tesseract-ocr-ara tesseract-ocr-heb tesseract-ocr-hin nodejs:node
    npm:npm"
bench_pkgs="wrk time"
deb_pkgs="debhelper dpkg-dev lintian"

want=""
[ $# -eq 0 ] && set -- build run test bench deb
for set in "$@"; do
    case $set in
    build) want="$want $build_pkgs" ;;
    run)   want="$want $run_pkgs" ;;
    test)  want="$want $test_pkgs" ;;
    bench) want="$want $bench_pkgs" ;;
    deb)   want="$want $deb_pkgs" ;;
    *) echo "deps.sh: unknown set '$set'" >&2; exit 2 ;;
    esac
done

missing=""
for entry in $want; do
    p=${entry%%:*}
    if [ "$p" != "$entry" ] && command -v "${entry#*:}" > /dev/null; then
        continue
    fi
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case $status in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# policy-rc.d keeps the packages' own services (nginx on :80, the default
# PostgreSQL cluster) from starting: we run our own instances.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
