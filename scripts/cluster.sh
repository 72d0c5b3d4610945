#!/usr/bin/env bash
# A 3-node RabbitMQ cluster on this one machine, for the tests, the chaos test and the benchmark:
#
#   scripts/cluster.sh up       start the nodes that are not running and cluster them (idempotent)
#   scripts/cluster.sh status   each node's state and the running nodes as the cluster sees
#                               them; exits 0 if at least one node's AMQP port accepts
#   scripts/cluster.sh down     shut down every node of SPLP_CLUSTER_DIR (kill -9 one that
#                               is still there after 10 s) and delete that directory
#   scripts/cluster.sh start N  bring node N (1-3) back: `start_app` if its Erlang VM runs
#                               (after `stop_app`), else a boot (after a kill); waits for it
#   scripts/cluster.sh pid N    the OS process id of node N's Erlang VM
#   scripts/cluster.sh ctl N ARGS...   rabbitmqctl -n NODE ARGS (with the cluster's cookie)
#
# Node N is `splpN@localhost` (SPLP_CLUSTER_PREFIX, default `splp`), with AMQP on 127.0.0.1
# port 5700+N, the management API on 15700+N and Erlang distribution on 25700+N
# (SPLP_CLUSTER_PORT_BASE, default 5700: the three ports are BASE+N, BASE+10000+N and
# BASE+20000+N). Every node has its own data, logs, config and enabled-plugins file under
# SPLP_CLUSTER_DIR (default /tmp/splp-cluster), with rabbitmq_management and
# rabbitmq_event_exchange on, and the same Erlang cookie (SPLP_CLUSTER_DIR/.erlang.cookie).
# Clustering: each node's rabbitmq.conf lists the three nodes for classic_config peer
# discovery, and `up` boots node 1 first, then nodes 2 and 3, which find node 1 at their
# first boot and join it there. A node that is still not a member afterwards (e.g. one that
# booted while node 1 was down) is reset and joined with `join_cluster`, which `up` says.
# Partition handling is pause_minority. Neither the machine's default node
# (rabbit@localhost on 5672) nor /etc/rabbitmq is used: the script points every RABBITMQ_*
# file at its own directory. The guest user works, on the loopback only.
set -euo pipefail

PREFIX="${SPLP_CLUSTER_PREFIX:-splp}"
BASE="${SPLP_CLUSTER_PORT_BASE:-5700}"
DIR="${SPLP_CLUSTER_DIR:-/tmp/splp-cluster}"
SIZE=3
RMQ_BIN="${SPLP_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"

node_name() { echo "${PREFIX}$1@localhost"; }
amqp_port() { echo $((BASE + $1)); }
http_port() { echo $((BASE + 10000 + $1)); }
dist_port() { echo $((BASE + 20000 + $1)); }

# Run a command in the environment of node N: nothing from /etc/rabbitmq, all files its own.
with_node() {
    local n="$1" home="$DIR/node$1"
    shift
    (
        export HOME="$DIR" \
            RABBITMQ_NODENAME="$(node_name "$n")" \
            RABBITMQ_CONF_ENV_FILE="$home/rabbitmq-env.conf" \
            RABBITMQ_CONFIG_FILE="$home/rabbitmq.conf" \
            RABBITMQ_ADVANCED_CONFIG_FILE="$home/advanced.config" \
            RABBITMQ_ENABLED_PLUGINS_FILE="$home/enabled_plugins" \
            RABBITMQ_MNESIA_BASE="$home/mnesia" \
            RABBITMQ_LOG_BASE="$home/log" \
            RABBITMQ_PID_FILE="$home/pid" \
            RABBITMQ_PLUGINS_EXPAND_DIR="$home/plugins-expand" \
            RABBITMQ_DIST_PORT="$(dist_port "$n")" \
            RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
            RABBITMQ_NODE_PORT="$(amqp_port "$n")" \
            ERL_EPMD_ADDRESS=127.0.0.1 \
            ERL_CRASH_DUMP="$home/log/erl_crash.dump" \
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        exec "$@"
    )
}

ctl() {  # ctl N ARGS...: rabbitmqctl against node N
    local n="$1"
    shift
    with_node "$n" "$RMQ_BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"
}

running() {  # the Erlang VM answers (app up or not); without our cookie, nothing of ours runs
    [ -f "$DIR/.erlang.cookie" ] && ctl "$1" ping >/dev/null 2>&1
}

app_running() {  # its AMQP listener accepts (quicker than asking the node: no Erlang CLI)
    (exec 3<>"/dev/tcp/127.0.0.1/$(amqp_port "$1")") 2>/dev/null
}

prepare() {
    local n="$1" home="$DIR/node$1"
    mkdir -p "$home/mnesia" "$home/log"
    [ -f "$home/rabbitmq-env.conf" ] || : >"$home/rabbitmq-env.conf"
    [ -f "$home/advanced.config" ] || echo "[]." >"$home/advanced.config"
    echo "[rabbitmq_management,rabbitmq_event_exchange]." >"$home/enabled_plugins"
    cat >"$home/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$(amqp_port "$n")
management.tcp.ip = 127.0.0.1
management.tcp.port = $(http_port "$n")
loopback_users.guest = true
cluster_partition_handling = pause_minority
vm_memory_high_watermark.relative = 0.2
disk_free_limit.absolute = 50MB
cluster_formation.peer_discovery_backend = classic_config
EOF
    for m in $(seq 1 "$SIZE"); do
        echo "cluster_formation.classic_config.nodes.$m = $(node_name "$m")" >>"$home/rabbitmq.conf"
    done
}

start_node() {
    local n="$1"
    app_running "$n" && return 0
    if running "$n"; then
        ctl "$n" start_app >/dev/null
        return 0
    fi
    prepare "$n"
    rm -f "$DIR/node$n/pid"  # a killed node's: `wait` must not follow a dead process
    echo "cluster: starting $(node_name "$n") (amqp $(amqp_port "$n"), management $(http_port "$n"))"
    # its own session, and none of our descriptors (the lock on fd 9, a caller's pipes)
    with_node "$n" setsid "$RMQ_BIN/rabbitmq-server" \
        </dev/null >>"$DIR/node$n/log/console.log" 2>&1 9>&- &
    # wait_for the pid file then for the app: bounded, so a node that cannot start fails `up`
    ctl "$n" wait --timeout 60 "$DIR/node$n/pid" >/dev/null 2>&1 || {
        echo "cluster: $(node_name "$n") did not start; see $DIR/node$n/log" >&2
        return 1
    }
}


up() {
    mkdir -p "$DIR"
    exec 9>"$DIR/.lock"
    flock 9
    if [ ! -f "$DIR/.erlang.cookie" ]; then
        (umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$DIR/.erlang.cookie")
        chmod 400 "$DIR/.erlang.cookie"
    fi
    # node 1 first; the others then find it at their first boot (classic_config peer
    # discovery) and join it there, so no join_cluster is needed in the usual case
    # (each in a subshell: the node's own server process is not a job of this shell)
    (start_node 1) || return 1
    local pids=() failed=0 pid
    for n in $(seq 2 "$SIZE"); do
        (start_node "$n") &
        pids+=("$!")
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    [ "$failed" = 0 ] || return 1
    local members
    members="$(ctl 1 eval 'rabbit_nodes:all().' 2>/dev/null)"
    for n in $(seq 2 "$SIZE"); do  # the fallback: a node peer discovery did not join
        if ! grep -q "$(node_name "$n")" <<<"$members"; then
            echo "cluster: $(node_name "$n") joins $(node_name 1) (join_cluster)"
            ctl "$n" stop_app >/dev/null 2>&1
            ctl "$n" reset >/dev/null 2>&1
            ctl "$n" join_cluster "$(node_name 1)" >/dev/null 2>&1
            ctl "$n" start_app >/dev/null 2>&1
        fi
    done
    for n in $(seq 1 "$SIZE"); do
        app_running "$n" || ctl "$n" await_startup --timeout 60 >/dev/null
    done
    echo "cluster: up: amqp://guest:guest@127.0.0.1:$(amqp_port 1) ..$(amqp_port "$SIZE"), management http://127.0.0.1:$(http_port 1) ..$(http_port "$SIZE")"
}

status() {
    local n up=0
    for n in $(seq 1 "$SIZE"); do
        if app_running "$n"; then
            echo "$(node_name "$n"): running (amqp $(amqp_port "$n"), management $(http_port "$n"))"
            up=$((up + 1))
        elif running "$n"; then
            echo "$(node_name "$n"): VM up, app stopped"
        else
            echo "$(node_name "$n"): down"
        fi
    done
    for n in $(seq 1 "$SIZE"); do
        if app_running "$n"; then
            echo "running nodes: $(ctl "$n" eval 'rabbit_nodes:all_running().' 2>/dev/null | tr -d '\n ')"
            break
        fi
    done
    [ "$up" -gt 0 ]
}

node_pid() {
    local pid_file="$DIR/node$1/pid"
    [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null && cat "$pid_file"
}

down() {
    [ -d "$DIR" ] || return 0
    exec 9>"$DIR/.lock"
    flock 9
    local n pid
    for n in $(seq 1 "$SIZE"); do
        if running "$n"; then ctl "$n" shutdown --no-wait >/dev/null 2>&1 || true; fi
    done
    for n in $(seq 1 "$SIZE"); do
        pid="$(node_pid "$n" || true)"
        for _ in $(seq 1 100); do
            [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" || true; fi
    done
    rm -rf "$DIR"
    echo "cluster: down"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
start)
    exec 9>"$DIR/.lock"
    flock 9
    start_node "${2:?node number}"
    app_running "$2" || ctl "$2" await_startup --timeout 60 >/dev/null
    ;;
pid) node_pid "${2:?node number}" ;;
ctl)
    n="${2:?node number}"
    shift 2
    ctl "$n" "$@"
    ;;
*)
    echo "usage: $0 up|down|status|start N|pid N|ctl N ARGS..." >&2
    exit 2
    ;;
esac
