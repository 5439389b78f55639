# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# A PostgreSQL server of the test's own: Debian's postgresql-15 binaries, a
# data directory and a Unix socket directory under DIR, run as the
# "postgres" user, trust authentication on the socket only (no TCP).
#
#   . tests/root/pg.sh
#   pg_start DIR          # sets PG_DB, a libpq connection string to database akm
#   pg_restart [MODE]     # pg_ctl restart -m MODE (fast)
#   pg_stop
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_DIR=
PG_PORT=
PG_DB=

pg_ctl_() { runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/pg.log" "$@"; }

pg_start() {
	PG_DIR=$1
	PG_PORT=$((40000 + RANDOM % 20000))
	mkdir -p "$PG_DIR" && chown postgres "$PG_DIR" || return 1
	runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres \
		>"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log"; return 1; }
	pg_ctl_ -w -o "-k $PG_DIR -p $PG_PORT -c listen_addresses=''" start >/dev/null ||
		{ cat "$PG_DIR/pg.log"; return 1; }
	runuser -u postgres -- "$PG_BIN/createdb" -h "$PG_DIR" -p "$PG_PORT" akm || return 1
	PG_DB="host=$PG_DIR port=$PG_PORT dbname=akm user=postgres connect_timeout=5"
}

pg_restart() { pg_ctl_ -w -m "${1:-fast}" restart >/dev/null; }

pg_stop() {
	[ -n "$PG_DIR" ] && [ -d "$PG_DIR/data" ] && pg_ctl_ -w -m immediate stop >/dev/null 2>&1
	return 0
}

# psql as the server's superuser, on the test's database; extra arguments follow
pg_sql() { runuser -u postgres -- psql -h "$PG_DIR" -p "$PG_PORT" -d akm -XAtq -v ON_ERROR_STOP=1 "$@"; }
