#!/usr/bin/env bash
# Prepare this machine for SPLP; safe to run again and again (a second run only checks).
#
#   1. .venv with the project installed editable with its dev extras
#      (re-installed only when pyproject.toml changed since the last install);
#   2. RabbitMQ on ${SPLP_AMQP_HOST:-127.0.0.1}:5672 with the management API on :15672
#      answering guest/guest (installed from Debian's packages and started if missing);
#   3. jq, curl and Chromium (the docs' shell walks, the portal's browser tests) from
#      Debian's packages when missing; Node.js (from Debian's packages if missing) and the locked dependencies of
#      examples/node-requester (npm ci, again only when its package-lock.json changed);
#   4. PostgreSQL on 127.0.0.1:5432 such that postgresql://postgres@127.0.0.1:5432/test
#      works (installed and started if missing; trust auth for loopback TCP, database
#      `test` created);
#   5. Redis on 127.0.0.1:6379 (the adapters' shared quota buckets, SPLP_QUOTA_URL;
#      installed and started if missing).
#
# apt-get runs only when something is missing. Works as root, or through sudo.
# Environment: SPLP_AMQP_HOST (default 127.0.0.1), SPLP_SETUP_TIMEOUT (seconds per
# wait, default 180), PYTHON (interpreter for the venv, default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

AMQP_HOST="${SPLP_AMQP_HOST:-127.0.0.1}"
AMQP_PORT=5672
MGMT_PORT=15672
MGMT_USER=guest
MGMT_PASS=guest
PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
PG_DB=test
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
WAIT="${SPLP_SETUP_TIMEOUT:-180}"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.splp-install-stamp"

export DEBIAN_FRONTEND=noninteractive
# rabbitmq-server, rabbitmq-plugins, pg_ctlcluster live in sbin dirs a user's PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

LOG="$(mktemp "${TMPDIR:-/tmp}/splp-setup.XXXXXX")"
trap 'rc=$?; if [ "$rc" -eq 0 ]; then rm -f "$LOG"; else echo "setup.sh: full log in $LOG" >&2; fi' EXIT

say() { printf 'setup: %s\n' "$*"; }
die() {
    printf 'setup: ERROR: %s\n' "$*" >&2
    exit 1
}

# Run a command with its output in $LOG; on failure show the end of it and stop.
# fd 9 (the set-up lock) is closed for it: a daemon it starts must not hold the lock.
logged() {
    local what="$1"
    shift
    if ! "$@" >>"$LOG" 2>&1 9>&-; then
        tail -n 40 "$LOG" >&2
        die "$what failed (command: $*)"
    fi
}

# sudo may ask for a password on a terminal; without one (CI) it must not wait.
sudo_() {
    if [ -t 0 ]; then sudo "$@"; else sudo -n "$@"; fi
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo_ "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

as_postgres() {
    # cd / so psql does not complain that it cannot read the caller's directory.
    if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u postgres -- "$@")
    elif [ "$(id -u)" -eq 0 ]; then
        (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
    else
        (cd / && sudo_ -u postgres "$@")
    fi
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "$* missing and no apt-get here: install it by hand"
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        logged "apt-get update" as_root apt-get -o DPkg::Lock::Timeout=300 update
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    logged "apt-get install $*" as_root apt-get -o DPkg::Lock::Timeout=300 install -y \
        --no-install-recommends -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "$@"
}

# wait_until DESCRIPTION HINT COMMAND...: retry COMMAND each second until it succeeds.
wait_until() {
    local what="$1" hint="$2"
    shift 2
    local deadline=$((SECONDS + WAIT))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "timed out after ${WAIT}s waiting for $what. $hint"
        fi
        sleep 1
    done
}

# The checks use only the standard library (no curl on a fresh machine) and ignore any
# http_proxy in the environment: they talk to this machine.
port_open() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError:
    sys.exit(1)
EOF
}

# management_answers PATH KEY [VALUE]: the management API answers GET PATH with a JSON
# object holding KEY (equal to VALUE when given).
management_answers() {
    "$PYTHON" - "http://$AMQP_HOST:$MGMT_PORT$1" "$MGMT_USER" "$MGMT_PASS" "$2" "${3-}" <<'EOF'
import base64, json, sys, urllib.request
url, user, password, key, value = sys.argv[1:6]
request = urllib.request.Request(url)
token = base64.b64encode(f"{user}:{password}".encode()).decode()
request.add_header("Authorization", f"Basic {token}")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(request, timeout=5) as response:
        found = json.load(response)[key]
        assert not value or found == value, f"{key} is {found!r}"
except Exception as exc:  # any failure means: not ready yet
    print(exc, file=sys.stderr)
    sys.exit(1)
EOF
}

management_ok() { management_answers /api/overview management_version; }

# rabbitmq_event_exchange declares amq.rabbitmq.event in vhost "/" when enabled.
event_exchange_ok() { management_answers /api/exchanges/%2F/amq.rabbitmq.event name amq.rabbitmq.event; }

is_local_host() {
    case "$1" in
        127.* | localhost | ::1 | "[::1]") return 0 ;;
        *) return 1 ;;
    esac
}

systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

# --------------------------------------------------------------------------- Python venv

ensure_venv() {
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; SPLP needs Python >= 3.11"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "$PYTHON is $("$PYTHON" -V 2>&1); SPLP needs Python >= 3.11"

    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1; then
        :
    else
        say "creating $VENV"
        if ! "$PYTHON" -m venv --clear "$VENV" >>"$LOG" 2>&1; then
            # Debian's python3 ships venv's ensurepip separately.
            apt_install python3-venv python3-pip
            logged "python3 -m venv" "$PYTHON" -m venv --clear "$VENV"
        fi
        rm -f "$STAMP"
    fi

    local want have=""
    want="$(
        {
            "$VENV/bin/python" -VV
            cat pyproject.toml
        } | "$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
    )"
    [ -f "$STAMP" ] && have="$(cat "$STAMP")"
    # The editable install must point at this checkout (not at a copy the venv came from).
    if [ "$want" = "$have" ] && "$VENV/bin/python" - "$ROOT" <<'EOF' >/dev/null 2>&1; then
import os, sys, splp
sys.exit(not os.path.realpath(splp.__file__).startswith(os.path.realpath(sys.argv[1]) + os.sep))
EOF
        say "venv up to date ($VENV)"
        return
    fi
    say "pip install -e '.[dev]' into $VENV (a few minutes on a new machine)"
    logged "pip install" "$VENV/bin/python" -m pip install --disable-pip-version-check \
        --progress-bar off -e ".[dev]"
    echo "$want" >"$STAMP"
    say "venv ready"
}

# --------------------------------------------------------------------------- RabbitMQ

start_rabbitmq() {
    say "starting RabbitMQ"
    if systemd_running; then
        logged "systemctl start rabbitmq-server" as_root systemctl start rabbitmq-server
    else
        # Debian's wrapper switches to the rabbitmq user; -detached returns at once.
        logged "rabbitmq-server -detached" as_root rabbitmq-server -detached
    fi
}

ensure_rabbitmq() {
    if port_open "$AMQP_HOST" "$AMQP_PORT"; then
        say "RabbitMQ answers on $AMQP_HOST:$AMQP_PORT"
    else
        is_local_host "$AMQP_HOST" ||
            die "RabbitMQ unreachable at $AMQP_HOST:$AMQP_PORT (not this machine: start it there)"
        command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
        # A fresh install may already have started it (where init scripts run).
        if ! port_open "$AMQP_HOST" "$AMQP_PORT"; then
            start_rabbitmq
        fi
        say "waiting for RabbitMQ on $AMQP_HOST:$AMQP_PORT (up to ${WAIT}s)"
        wait_until "RabbitMQ on $AMQP_HOST:$AMQP_PORT" \
            "See /var/log/rabbitmq/ and 'rabbitmq-diagnostics status'." \
            port_open "$AMQP_HOST" "$AMQP_PORT"
        say "RabbitMQ is up"
    fi

    # The plugins: management (the directory's broker reconciler) and the event exchange
    # (broker security events in the audit). An answering API and a declared
    # amq.rabbitmq.event prove both enabled; otherwise enable, where the broker runs on
    # this machine, those the node lists as not enabled (enabling talks to the node: slow).
    if management_ok 2>/dev/null && event_exchange_ok 2>/dev/null; then
        say "RabbitMQ management API and event exchange answer on $AMQP_HOST:$MGMT_PORT"
        return
    fi
    if command -v rabbitmq-plugins >/dev/null 2>&1; then
        enabled="$(as_root rabbitmq-plugins list -e -m -q 2>/dev/null || true)"
        for plugin in rabbitmq_management rabbitmq_event_exchange; do
            if ! printf '%s\n' "$enabled" | grep -qx "$plugin"; then
                say "enabling $plugin"
                logged "rabbitmq-plugins enable $plugin" as_root rabbitmq-plugins enable "$plugin"
            fi
        done
    fi
    say "waiting for the management API on $AMQP_HOST:$MGMT_PORT (up to ${WAIT}s)"
    wait_until "the RabbitMQ management API at http://$AMQP_HOST:$MGMT_PORT/api/overview ($MGMT_USER/$MGMT_PASS)" \
        "Is rabbitmq_management enabled ('rabbitmq-plugins list')? guest/guest only works from localhost." \
        management_ok
    say "RabbitMQ management API is up"
}

# --------------------------------------------------------------------------- PostgreSQL

pg_version() {
    # The newest cluster configured, else the newest server installed.
    local v
    v="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$v" ] || v="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)"
    echo "$v"
}

start_postgres() {
    local v
    v="$(pg_version)"
    [ -n "$v" ] || die "PostgreSQL is installed but no server version found under /usr/lib/postgresql"
    if [ ! -d "/etc/postgresql/$v/main" ]; then
        say "creating PostgreSQL cluster $v/main"
        logged "pg_createcluster" as_root pg_createcluster "$v" main
    fi
    say "starting PostgreSQL $v/main"
    if systemd_running; then
        logged "systemctl start postgresql@$v-main" as_root systemctl start "postgresql@$v-main"
    else
        logged "pg_ctlcluster start" as_root pg_ctlcluster --skip-systemctl-redirect "$v" main start
    fi
}

# Prints ok | nodb | denied:<reason> | down:<reason> for postgres@host:port/DB.
pg_probe() {
    "$VENV/bin/python" - "$PG_HOST" "$PG_PORT" "$PG_USER" "$1" <<'EOF'
import asyncio, sys
import asyncpg
host, port, user, database = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

async def main() -> str:
    try:
        conn = await asyncpg.connect(host=host, port=port, user=user, database=database,
                                     password="", timeout=5)
    except asyncpg.InvalidCatalogNameError:
        return "nodb"
    except (OSError, asyncio.TimeoutError) as exc:
        return f"down:{exc}"
    except Exception as exc:  # authentication refused, password required, ...
        return f"denied:{type(exc).__name__}: {exc}".replace("\n", " ")
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()
    return "ok"

print(asyncio.run(main()))
EOF
}

pg_trust_loopback() {
    # Local TCP connections without a password, as on the development machines.
    local hba
    hba="$(as_postgres psql -XAtqc 'SHOW hba_file' 2>>"$LOG")" ||
        die "cannot ask PostgreSQL for its pg_hba.conf as the postgres user (see $LOG)"
    [ -f "$hba" ] || die "pg_hba.conf not found at '$hba'"
    if grep -q '# splp setup: trust loopback' "$hba"; then
        return
    fi
    say "allowing passwordless loopback TCP connections in $hba"
    local tmp
    tmp="$(mktemp)"
    {
        echo '# splp setup: trust loopback TCP (development and test machine)'
        echo 'host    all    all    127.0.0.1/32    trust'
        echo 'host    all    all    ::1/128         trust'
        cat "$hba"
    } >"$tmp"
    as_root cp "$tmp" "$hba"
    rm -f "$tmp"
    logged "reload PostgreSQL configuration" as_postgres psql -XAtqc 'SELECT pg_reload_conf()'
    sleep 1
}

ensure_postgres() {
    if port_open "$PG_HOST" "$PG_PORT"; then
        say "PostgreSQL answers on $PG_HOST:$PG_PORT"
    else
        if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
            apt_install postgresql
        fi
        port_open "$PG_HOST" "$PG_PORT" || start_postgres
        say "waiting for PostgreSQL on $PG_HOST:$PG_PORT (up to ${WAIT}s)"
        wait_until "PostgreSQL on $PG_HOST:$PG_PORT" "See /var/log/postgresql/." \
            port_open "$PG_HOST" "$PG_PORT"
    fi

    local url="postgresql://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB" state deadline=$((SECONDS + WAIT))
    local fixed_auth=0 created=0
    while :; do
        state="$(pg_probe "$PG_DB" 2>>"$LOG")" || state="down:probe failed (see $LOG)"
        case "$state" in
            ok)
                break
                ;;
            nodb)
                [ "$created" -eq 0 ] || die "database $PG_DB still missing after CREATE DATABASE"
                say "creating database $PG_DB"
                logged "CREATE DATABASE $PG_DB" "$VENV/bin/python" - "$PG_HOST" "$PG_PORT" "$PG_USER" "$PG_DB" <<'EOF'
import asyncio, sys
import asyncpg

async def main() -> None:
    host, port, user, database = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    conn = await asyncpg.connect(host=host, port=port, user=user, database="postgres", timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{database}"')
    except asyncpg.DuplicateDatabaseError:
        pass
    finally:
        await conn.close()

asyncio.run(main())
EOF
                created=1
                ;;
            denied:*)
                if [ "$fixed_auth" -eq 0 ] && is_local_host "$PG_HOST" && id postgres >/dev/null 2>&1; then
                    pg_trust_loopback
                    fixed_auth=1
                else
                    die "PostgreSQL refuses $url: ${state#denied:}"
                fi
                ;;
            *)
                # Still starting ("the database system is starting up") or gone.
                [ "$SECONDS" -lt "$deadline" ] ||
                    die "timed out after ${WAIT}s waiting for $url: ${state#*:}"
                sleep 1
                ;;
        esac
    done
    say "PostgreSQL ready: $url"
}

# --------------------------------------------------------------------------- Redis

# The token buckets that the replicas of an adapter share (SPLP_QUOTA_URL), which the
# suite tests against redis://127.0.0.1:6379/0.
redis_ok() {
    "$PYTHON" - "$REDIS_HOST" "$REDIS_PORT" <<'EOF'
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(64).startswith(b"+PONG")
except Exception:
    sys.exit(1)
EOF
}

ensure_redis() {
    if redis_ok; then
        say "Redis answers on $REDIS_HOST:$REDIS_PORT"
        return
    fi
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    # A fresh install may already have started it (where init scripts run).
    if ! redis_ok; then
        say "starting Redis"
        if systemd_running; then
            logged "systemctl start redis-server" as_root systemctl start redis-server
        else
            logged "redis-server --daemonize yes" as_root redis-server \
                --bind "$REDIS_HOST" --port "$REDIS_PORT" --daemonize yes
        fi
    fi
    say "waiting for Redis on $REDIS_HOST:$REDIS_PORT (up to ${WAIT}s)"
    wait_until "Redis on $REDIS_HOST:$REDIS_PORT" "See /var/log/redis/." redis_ok
    say "Redis is up"
}

# --------------------------------------------------------------------------- Node.js

# The requester guide's example in another language (examples/node-requester), which the
# suite runs: Node.js and its locked dependencies (npm ci, again only when the lock changed).
ensure_node_example() {
    local dir="$ROOT/examples/node-requester"
    [ -f "$dir/package-lock.json" ] || return 0
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        apt_install nodejs npm
    fi
    local stamp="$dir/node_modules/.splp-lock-stamp"
    if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
        return 0
    fi
    say "npm ci in examples/node-requester"
    logged "npm ci" npm ci --prefix "$dir" --no-audit --no-fund
    cp "$dir/package-lock.json" "$stamp"
}

# The docs' shell walks (run by tests/test_docs.py) use jq and curl, as an operator does.
ensure_shell_tools() {
    local missing=()
    command -v jq >/dev/null 2>&1 || missing+=(jq)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    # the evaluation report's test renders its PDF to PNG (build/report-screenshots/)
    command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
}

# The portal's browser tests drive Debian's Chromium (Playwright with executable_path; a
# browser download of Playwright's own is neither needed nor possible here).
ensure_chromium() {
    if ! command -v chromium >/dev/null 2>&1; then
        apt_install chromium
    fi
}

# --------------------------------------------------------------------------- main

# One set-up at a time per checkout (demo.sh and test.sh may start together).
if command -v flock >/dev/null 2>&1; then
    LOCK="${TMPDIR:-/tmp}/splp-setup-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1).lock"
    exec 9>"$LOCK"
    if ! flock -n 9; then
        say "waiting for another scripts/setup.sh of this checkout to finish"
        flock -w 900 9 || die "another scripts/setup.sh held $LOCK for 15 minutes (or a process it started did: fuser -v $LOCK)"
    fi
fi

ensure_venv
ensure_shell_tools
ensure_chromium
ensure_node_example
ensure_rabbitmq
ensure_postgres
ensure_redis
say "done"
