#!/usr/bin/env bash
# Build ngx_http_weaveit_module.so against Debian's nginx (package nginx-dev),
# with the package's own configure flags so the module signature matches
# /usr/sbin/nginx.  Re-runs configure only when `config` changed.
#
# WEAVEIT_OUT (default build) is the build tree, relative to the checkout;
# WEAVEIT_SANITIZE, compiler flags added to the module's compile and link
# (make test-asan: mk/asan.mk).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export WEAVEIT_OUT=${WEAVEIT_OUT:-build}
sanitize=${WEAVEIT_SANITIZE:-}
build=$top/$WEAVEIT_OUT
src=$build/nginx-src
objs=$build/nginx

if [ ! -f "$src/configure" ]; then
    mkdir -p "$build"
    rm -rf "$src"
    cp -r /usr/share/nginx/src "$src"
fi

# The schema and the demo page are compiled in, so an operator needs
# nothing but the .so.
mkdir -p "$build/gen"

embed() {
    local file=$1 name=$2 out=$3
    if [ ! -f "$out" ] || [ "$file" -nt "$out" ]; then
        {
            echo "/* generated from ${file#"$top"/} by scripts/build-module.sh */"
            echo "static const char $name[] ="
            sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' \
                -e 's/$/\\n"/' "$file"
            echo "    ;"
        } > "$out.tmp"
        mv "$out.tmp" "$out"
    fi
}

embed "$top/conf/schema.sql" ngx_http_weaveit_schema_sql \
    "$build/gen/ngx_http_weaveit_schema.h"
embed "$top/conf/www/index.html" ngx_http_weaveit_demo_html \
    "$build/gen/ngx_http_weaveit_demo.h"

# Where the module looks for the generator unless weaveit_generator says
# otherwise: this checkout's build, or WEAVEIT_GENERATOR (a package build
# sets it to where the package installs it).
generator=${WEAVEIT_GENERATOR:-$build/weaveit-render}
# libpq's own directory of pg_service.conf, for the module to read
# the file as libpq would (libpq-dev's pg_config knows it).
sysconfdir=$(pg_config --sysconfdir)
paths="#define NGX_HTTP_WEAVEIT_GENERATOR  \"$generator\"
#define NGX_HTTP_WEAVEIT_PG_SYSCONFDIR  \"$sysconfdir\""
if [ "$paths" != "$(cat "$build/gen/ngx_http_weaveit_paths.h" 2>/dev/null)" ]
then
    echo "$paths" > "$build/gen/ngx_http_weaveit_paths.h"
fi

# The version has one home, debian/changelog's first entry: the package
# and weaveit_build_info report the same.
version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$top/debian/changelog")
version_h="#define NGX_HTTP_WEAVEIT_VERSION  \"$version\""
if [ "$version_h" != "$(cat "$build/gen/ngx_http_weaveit_version.h" \
                        2>/dev/null)" ]
then
    echo "$version_h" > "$build/gen/ngx_http_weaveit_version.h"
fi

# configure bakes the source list and the flags in: run it again when they
# change.
srclist="$(cd "$top" && ls config src/*.c 2>/dev/null | tr '\n' ' ')$sanitize"
if [ ! -f "$objs/Makefile" ] || [ "$top/config" -nt "$objs/Makefile" ] \
    || [ "$srclist" != "$(cat "$objs/srclist" 2>/dev/null)" ]
then
    cd "$src"
    # shellcheck disable=SC1091
    . ./conf_flags
    if [ -n "$sanitize" ]; then
        NGX_CONF_FLAGS+=("--with-cc-opt=$sanitize" "--with-ld-opt=$sanitize")
    fi
    # configure's probes are built with the flags and run: a probe that
    # leaks must not read as a missing feature (the module's signature)
    ASAN_OPTIONS=detect_leaks=0 \
    ./configure "${NGX_CONF_FLAGS[@]}" --add-dynamic-module="$top" \
        --builddir="$objs" > "$build/configure.log" 2>&1 || {
        tail -30 "$build/configure.log" >&2
        exit 1
    }
    echo "$srclist" > "$objs/srclist"
fi

make -s -C "$src" -f "$objs/Makefile" modules
