#!/usr/bin/env bash
# A standalone RabbitMQ node per regency on this one machine, for the federation test and docs:
#
#   scripts/regency.sh up NAME      start regency NAME's node if it is not running (idempotent)
#   scripts/regency.sh status NAME  whether NAME's node runs, and its ports
#   scripts/regency.sh down NAME    stop NAME's node (only if this script started it) and delete its data
#
# Regency `a` has AMQP on 127.0.0.1:5682, the management API on 15682 and Erlang distribution
# on 25682; regency `b` has 5683, 15683 and 25683. Another NAME needs SPLP_REGENCY_PORT (its
# AMQP port; management and distribution are 10000 and 20000 above it). The node is
# `splp-<NAME>@localhost`, with its own data, logs, Erlang cookie and enabled-plugins file
# (rabbitmq_management, rabbitmq_shovel, rabbitmq_shovel_management) under
# SPLP_REGENCY_DIR/<NAME> (default /tmp/splp-regency/<NAME>). Neither the machine's default
# node (rabbit@localhost on 5672) nor /etc/rabbitmq is used or touched. The guest user works,
# on the loopback only.
set -euo pipefail

NAME="${2:-}"
ROOT_DIR="${SPLP_REGENCY_DIR:-/tmp/splp-regency}"
RMQ_BIN="${SPLP_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"

usage() {
    echo "usage: $0 up|down|status NAME   (NAME: a, b, or any [a-z0-9-]+ with SPLP_REGENCY_PORT)" >&2
    exit 2
}

[[ "$NAME" =~ ^[a-z0-9-]+$ ]] || usage
case "$NAME" in
a) DEFAULT_PORT=5682 ;;
b) DEFAULT_PORT=5683 ;;
*) DEFAULT_PORT="" ;;
esac
AMQP_PORT="${SPLP_REGENCY_PORT:-$DEFAULT_PORT}"
[ -n "$AMQP_PORT" ] || {
    echo "regency: set SPLP_REGENCY_PORT for regency $NAME" >&2
    exit 2
}
[ "$AMQP_PORT" != 5672 ] || {
    echo "regency: 5672 belongs to the machine's default node" >&2
    exit 2
}
HTTP_PORT=$((AMQP_PORT + 10000))
DIST_PORT=$((AMQP_PORT + 20000))
NODE="splp-$NAME@localhost"
HOME_DIR="$ROOT_DIR/$NAME"

with_node() {  # run a command in the node's own environment: nothing from /etc/rabbitmq
    (
        export HOME="$HOME_DIR" \
            RABBITMQ_NODENAME="$NODE" \
            RABBITMQ_CONF_ENV_FILE="$HOME_DIR/rabbitmq-env.conf" \
            RABBITMQ_CONFIG_FILE="$HOME_DIR/rabbitmq.conf" \
            RABBITMQ_ADVANCED_CONFIG_FILE="$HOME_DIR/advanced.config" \
            RABBITMQ_ENABLED_PLUGINS_FILE="$HOME_DIR/enabled_plugins" \
            RABBITMQ_MNESIA_BASE="$HOME_DIR/mnesia" \
            RABBITMQ_LOG_BASE="$HOME_DIR/log" \
            RABBITMQ_PID_FILE="$HOME_DIR/pid" \
            RABBITMQ_PLUGINS_EXPAND_DIR="$HOME_DIR/plugins-expand" \
            RABBITMQ_DIST_PORT="$DIST_PORT" \
            RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
            RABBITMQ_NODE_PORT="$AMQP_PORT" \
            ERL_EPMD_ADDRESS=127.0.0.1 \
            ERL_CRASH_DUMP="$HOME_DIR/log/erl_crash.dump" \
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        exec "$@"
    )
}

ctl() { with_node "$RMQ_BIN/rabbitmqctl" -n "$NODE" "$@"; }

vm_pid() {  # the node's Erlang VM, if its pid file names a live process
    [ -s "$HOME_DIR/pid" ] && kill -0 "$(cat "$HOME_DIR/pid")" 2>/dev/null && cat "$HOME_DIR/pid"
}

# rabbitmqctl takes tens of seconds to give up on a node that is not there: ask it only
# when the node's VM is alive
running() { vm_pid >/dev/null && ctl ping >/dev/null 2>&1; }

app_running() { running && ctl eval 'rabbit:is_running().' 2>/dev/null | grep -q true; }

prepare() {
    mkdir -p "$HOME_DIR/mnesia" "$HOME_DIR/log"
    if [ ! -f "$HOME_DIR/.erlang.cookie" ]; then
        (umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$HOME_DIR/.erlang.cookie")
        chmod 400 "$HOME_DIR/.erlang.cookie"
    fi
    [ -f "$HOME_DIR/rabbitmq-env.conf" ] || : >"$HOME_DIR/rabbitmq-env.conf"
    [ -f "$HOME_DIR/advanced.config" ] || echo "[]." >"$HOME_DIR/advanced.config"
    echo "[rabbitmq_management,rabbitmq_shovel,rabbitmq_shovel_management]." >"$HOME_DIR/enabled_plugins"
    cat >"$HOME_DIR/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $HTTP_PORT
loopback_users.guest = true
vm_memory_high_watermark.relative = 0.2
disk_free_limit.absolute = 50MB
CONF
}

up() {
    mkdir -p "$HOME_DIR"
    exec 9>"$ROOT_DIR/.$NAME.lock"
    flock 9
    if running; then
        app_running || ctl start_app >/dev/null
    else
        prepare
        echo "regency: starting $NODE (amqp $AMQP_PORT, management $HTTP_PORT)"
        # its own session, and none of our descriptors (the lock on fd 9, a caller's pipes)
        with_node setsid "$RMQ_BIN/rabbitmq-server" \
            </dev/null >>"$HOME_DIR/log/console.log" 2>&1 9>&- &
        ctl wait --timeout 60 "$HOME_DIR/pid" >/dev/null 2>&1 || {
            echo "regency: $NODE did not start; see $HOME_DIR/log" >&2
            return 1
        }
    fi
    ctl await_startup --timeout 60 >/dev/null
    echo "regency $NAME: up: amqp://guest:guest@127.0.0.1:$AMQP_PORT, management http://127.0.0.1:$HTTP_PORT"
}

status() {
    if app_running; then
        echo "regency $NAME ($NODE): running (amqp $AMQP_PORT, management $HTTP_PORT)"
    elif running; then
        echo "regency $NAME ($NODE): VM up, app stopped"
        return 1
    else
        echo "regency $NAME ($NODE): down"
        return 1
    fi
}

down() {
    [ -d "$HOME_DIR" ] || return 0
    exec 9>"$ROOT_DIR/.$NAME.lock"
    flock 9
    local pid
    pid="$(vm_pid || true)"
    # SIGTERM stops a RabbitMQ node gracefully, without starting a rabbitmqctl VM
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
    for _ in $(seq 1 150); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" || true; fi
    rm -rf "$HOME_DIR"
    echo "regency $NAME: down"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*) usage ;;
esac
