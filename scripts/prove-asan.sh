#!/usr/bin/env bash
# prove against the sanitizer build (`make asan` makes it): the harness
# (t/lib/WeaveIt/Test.pm) and the unit tests take their binaries from
# WEAVEIT_BUILD.  Usage: scripts/prove-asan.sh [prove arguments]
#
# The options here hold for every sanitized program the tests run; the
# harness adds where nginx's and the generator's reports go.  A report
# exits 99, which no program of ours uses, so a test expecting exit 1
# (bad input) still tells a report from it; leaks are reported, but for
# those of other libraries t/lsan.supp lists.
set -euo pipefail
cd "$(dirname "$0")/.."
export WEAVEIT_BUILD=build/asan
export ASAN_OPTIONS=exitcode=99:detect_leaks=1:print_summary=1
export UBSAN_OPTIONS=exitcode=99:print_stacktrace=1:print_summary=1
export LSAN_OPTIONS=suppressions=$PWD/t/lsan.supp:print_suppressions=0
exec prove "$@"
