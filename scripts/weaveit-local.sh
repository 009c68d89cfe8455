#!/usr/bin/env bash
# `make run` / `make stop`: a PostgreSQL cluster under var/ (127.0.0.1:54329
# and a socket in var/run) and nginx with conf/weaveit.conf on
# 127.0.0.1:8080, both in the background.  nginx reaches PostgreSQL through
# the socket, whose directory it gets as PGHOST.  Starting twice is
# harmless.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
var=$top/var
pg_port=54329
url=http://127.0.0.1:8080

pgdata=$var/pg
pgsock=$var/run
# PostgreSQL runs as postgres when we are root; if it cannot reach var/
# (a checkout under a private home), keep its files where it can.
if [ "$(id -u)" -eq 0 ] && ! (cd / && runuser -u postgres -- test -x "$top")
then
    pgdata=/var/lib/weaveit/$(echo "$top" | md5sum | cut -c1-12)/pg
    pgsock=$(dirname "$pgdata")/run
    mkdir -p "$(dirname "$pgdata")"
    chmod 755 /var/lib/weaveit "$(dirname "$pgdata")"
fi

# nginx's workers (user nobody) spawn the generator from build/; when they
# cannot reach it (a checkout under a private home) they run as the
# checkout's owner.
worker_user=
if [ "$(id -u)" -eq 0 ] \
    && ! (cd / && runuser -u nobody -- test -x "$top/build/weaveit-render")
then
    worker_user=$(stat -c %U "$top")
fi

nginx_running() {
    [ -f "$var/nginx.pid" ] && kill -0 "$(cat "$var/nginx.pid")" 2>/dev/null
}

start() {
    mkdir -p "$var/log" "$var/tmp"
    chmod 1777 "$var/tmp"
    "$top/scripts/pg.sh" start "$pgdata" "$pgsock" "$pg_port" 127.0.0.1
    export PGHOST=$pgsock
    if ! psql -X -p "$pg_port" -U postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'weaveit'" | grep -q 1
    then
        createdb -p "$pg_port" -U postgres weaveit
    fi

    # A reload would keep the module already loaded: restart, so a new
    # build is used.  Jobs live in PostgreSQL and survive this.
    stop_nginx
    /usr/sbin/nginx -p "$top" -c conf/weaveit.conf -e var/log/error.log \
        ${worker_user:+-g "user $worker_user;"}
    echo "WeaveIt is running: $url  (logs in var/log, 'make stop' stops)"
}

stop_nginx() {
    if nginx_running; then
        pid=$(cat "$var/nginx.pid")
        kill -QUIT "$pid"
        for _ in $(seq 300); do
            kill -0 "$pid" 2>/dev/null || return 0
            sleep 0.1
        done
        kill -TERM "$pid" 2>/dev/null || true
        sleep 1
    fi
}

stop() {
    stop_nginx
    "$top/scripts/pg.sh" stop "$pgdata"
    echo "WeaveIt stopped"
}

case ${1:-} in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
