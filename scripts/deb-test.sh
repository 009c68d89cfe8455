#!/usr/bin/env bash
# make deb-test: the package on this machine's stock nginx, as an operator
# installs it.  Builds it (make deb), installs it with dpkg -i (its
# dependencies through apt-get -f install), checks that nginx -t passes
# with the stock /etc/nginx and the module enabled, serves health and
# /metrics from a PostgreSQL started for the test with the documented
# server block in /etc/nginx/conf.d/, then purges the package and checks
# that nothing is left in modules-enabled.  It changes the system: root
# only, meant for CI's throwaway machine; skipped otherwise.
set -uo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "deb-test: skipped: installing a package into the system needs root"
    echo "deb-test: (run it as root on a throwaway machine; CI does)"
    exit 0
fi

top=$(cd "$(dirname "$0")/.." && pwd)
pkg=libnginx-mod-http-weaveit
site=/etc/nginx/conf.d/weaveit-deb-test.conf
enabled=/etc/nginx/modules-enabled/50-mod-http-weaveit.conf
tmp=$(mktemp -d /tmp/weaveit-deb-test-XXXXXX)
chmod 755 "$tmp"
pass=0
fail=0

cleanup() {
    if [ -f "$tmp/nginx.pid" ]; then
        kill -QUIT "$(cat "$tmp/nginx.pid")" 2>/dev/null
        sleep 1
    fi
    "$top/scripts/pg.sh" stop "$tmp/pg" immediate > /dev/null 2>&1
    rm -f "$site"
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed
    then
        dpkg --purge "$pkg" > /dev/null 2>&1
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

check() {
    local what=$1
    shift
    if "$@" >> "$tmp/log" 2>&1; then
        echo "ok - $what"
        pass=$((pass + 1))
    else
        echo "not ok - $what"
        tail -20 "$tmp/log" | sed 's/^/#   /'
        fail=$((fail + 1))
    fi
}

finish() {
    echo "deb-test: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}

"$top/scripts/deps.sh" build run deb || exit 1
deb=$("$top/scripts/deb.sh") || exit 1
version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)

# the packages' own services stay down: nginx on :80 must not start here
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d; cleanup' EXIT
fi

install_package() {
    dpkg -i "$deb" \
        || DEBIAN_FRONTEND=noninteractive apt-get -f install -y -q
    dpkg-query -W -f='${Status}' "$pkg" | grep -q 'install ok installed'
}

check "dpkg -i $(basename "$deb")" install_package
check "the module is enabled in modules-enabled" \
    test "$(readlink "$enabled")" = \
         /usr/share/nginx/modules-available/mod-http-weaveit.conf
check "the snippet loads modules/ngx_http_weaveit_module.so" \
    grep -qx 'load_module modules/ngx_http_weaveit_module.so;' "$enabled"
check "the generator is where the module expects it" \
    test -x /usr/bin/weaveit-render
check "the documentation has the examples and the schema" \
    test -f /usr/share/doc/$pkg/weaveit.conf \
         -a -f /usr/share/doc/$pkg/weaveit-site.conf \
         -a -f /usr/share/doc/$pkg/weaveit-cache.conf \
         -a -f /usr/share/doc/$pkg/schema.sql
check "nginx -t passes with the stock /etc/nginx and the module" nginx -t

# PostgreSQL for the test, and the documented server block on a free port
port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1,
    LocalAddr => "127.0.0.1", LocalPort => 0)->sockport')
pgport=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1,
    LocalAddr => "127.0.0.1", LocalPort => 0)->sockport')
check "PostgreSQL starts" \
    "$top/scripts/pg.sh" start "$tmp/pg" "$tmp/pgsock" "$pgport"

write_site() {
    local db="host=$tmp/pgsock port=$pgport user=postgres dbname=postgres"
    sed -e "s|^weaveit_db .*|weaveit_db \"$db\";|" \
        -e "s|listen 127.0.0.1:8080;|listen 127.0.0.1:$port;|" \
        /usr/share/doc/$pkg/weaveit-site.conf > "$site"
}
check "the documented server block goes to conf.d" write_site
check "nginx -t passes with it" nginx -t

# the stock nginx.conf without the default site (it listens on :80)
start_nginx() {
    sed -e '/sites-enabled/d' -e "s|^pid .*|pid $tmp/nginx.pid;|" \
        /etc/nginx/nginx.conf > "$tmp/nginx.conf"
    nginx -c "$tmp/nginx.conf" -g "error_log $tmp/error.log info;"
}
check "nginx starts with the stock configuration" start_nginx

health() {
    local i
    for i in $(seq 1 60); do
        if curl -sf "http://127.0.0.1:$port/api/db/health" \
            | grep -qx '{"ok":true}'
        then
            return 0
        fi
        sleep 0.5
    done
    return 1
}
check "GET /api/db/health answers {\"ok\":true}" health
check "GET /metrics reports weaveit_build_info $version" \
    sh -c "curl -sf http://127.0.0.1:$port/metrics \
           | grep -qx 'weaveit_build_info{version=\"$version\"} 1'"

stop_nginx() {
    local pid
    pid=$(cat "$tmp/nginx.pid") && kill -QUIT "$pid" || return 1
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$tmp/nginx.pid"; return 0; }
        sleep 0.5
    done
    return 1
}
check "nginx stops" stop_nginx
check "no alert in error.log" \
    sh -c "! grep -E '\[(alert|crit|emerg)\]' '$tmp/error.log'"
rm -f "$site"

check "dpkg --purge $pkg" dpkg --purge "$pkg"
check "nothing of it is left in modules-enabled" \
    sh -c '! ls /etc/nginx/modules-enabled | grep -q weaveit'
check "the module and the generator are gone" \
    test ! -e /usr/lib/nginx/modules/ngx_http_weaveit_module.so \
         -a ! -e /usr/bin/weaveit-render
check "nginx -t still passes" nginx -t

finish
