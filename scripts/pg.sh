#!/usr/bin/env bash
# A private PostgreSQL cluster, for `make run` (under var/) and the tests.
#
#   pg.sh start DATADIR SOCKDIR PORT [LISTEN]  initdb if needed, then start
#   pg.sh standby DATADIR SOCKDIR PORT PRIMARY_SOCKDIR PRIMARY_PORT
#                                              a streaming standby of the
#                                              cluster there, started
#   pg.sh stop DATADIR [MODE]                  stop (MODE: fast, immediate)
#   pg.sh status DATADIR                       exit 0 if running
#
# PostgreSQL refuses to run as root: as root, everything runs as postgres.
set -euo pipefail

bindir=$(pg_config --bindir 2>/dev/null || true)
if [ ! -x "$bindir/initdb" ]; then
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
fi

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        # from /: postgres may not enter the caller's directory
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

make_dir() {
    mkdir -p "$1"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$1"
    fi
    chmod "$2" "$1"
}

start_cluster() {
    local data=$1 sock=$2
    make_dir "$sock" 0755
    # Streaming reads a video in ~512 KB slices; with glibc's defaults each
    # query's large buffers are mmap()ed and trimmed again, and page faults
    # took a third of PostgreSQL's CPU (README, "PostgreSQL for streaming").
    export MALLOC_MMAP_THRESHOLD_=4194304 MALLOC_TRIM_THRESHOLD_=8388608
    if ! as_pg "$bindir/pg_ctl" -D "$data" status > /dev/null 2>&1; then
        as_pg "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
            start > /dev/null || {
            tail -20 "$data/server.log" >&2
            exit 1
        }
    fi
}

cmd=${1:?usage: pg.sh start|standby|stop|status DATADIR ...}
data=${2:?DATADIR missing}

case $cmd in
start)
    sock=${3:?SOCKDIR missing}
    port=${4:?PORT missing}
    listen=${5:-}
    if [ ! -f "$data/PG_VERSION" ]; then
        make_dir "$data" 0700
        as_pg "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 \
            --no-locale > "$data.initdb.log" 2>&1 || {
            cat "$data.initdb.log" >&2
            exit 1
        }
        cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '$listen'
port = $port
unix_socket_directories = '$sock'
max_connections = 400
shared_buffers = 128MB
wal_level = replica
CONF
        # initdb -A trust has it already; a standby depends on it
        grep -q '^local *replication' "$data/pg_hba.conf" ||
            echo 'local replication all trust' >> "$data/pg_hba.conf"
    fi
    start_cluster "$data" "$sock"
    ;;
standby)
    sock=${3:?SOCKDIR missing}
    port=${4:?PORT missing}
    primary_sock=${5:?PRIMARY_SOCKDIR missing}
    primary_port=${6:?PRIMARY_PORT missing}
    if [ ! -f "$data/PG_VERSION" ]; then
        make_dir "$data" 0700
        # -R: standby.signal and primary_conninfo, so it streams at once
        as_pg "$bindir/pg_basebackup" -D "$data" -R -X stream -c fast \
            -h "$primary_sock" -p "$primary_port" -U postgres
        cat >> "$data/postgresql.conf" <<CONF
listen_addresses = ''
port = $port
unix_socket_directories = '$sock'
CONF
    fi
    start_cluster "$data" "$sock"
    ;;
stop)
    mode=${3:-fast}
    if as_pg "$bindir/pg_ctl" -D "$data" status > /dev/null 2>&1; then
        as_pg "$bindir/pg_ctl" -D "$data" -m "$mode" -w stop > /dev/null
    fi
    ;;
status)
    as_pg "$bindir/pg_ctl" -D "$data" status > /dev/null 2>&1
    ;;
*)
    echo "pg.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
