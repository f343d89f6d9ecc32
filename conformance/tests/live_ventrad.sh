#!/bin/sh
# The live conformance tier against the freshly built ventrad: starts it on a
# free loopback port with a temporary data directory, runs
# `ventra-conform server` (or, with --mode client, `ventra-conform client`)
# against it (with a crash command that SIGKILLs it and starts it again on
# the same port and data directory, and its key file), requires exit 0 and
# stops the server, also on failure.
#
#   live_ventrad.sh [--mode server|client] VENTRAD CONFORM LIMITS [ARGS...]
#     LIMITS  "off" (ventrad --limits off), "default" (its default limits) or
#             "closed" (limits off and --registration closed)
#     ARGS    more arguments of ventra-conform MODE (--junit, --case ...)
#   live_ventrad.sh --crash STATE   (the crash command; STATE is its folder)
set -u

# Starts ventrad from the settings in $state on port $1 (0: any); waits at
# most 10 s for its listening line and writes the port to $state/port.
start() {
    lines=$(wc -l <"$state/log" 2>/dev/null || echo 0)
    # shellcheck disable=SC2046
    "$(cat "$state/ventrad")" --listen "127.0.0.1:$1" --data "$state/data" \
        $(cat "$state/args") >>"$state/log" 2>&1 &
    echo $! >"$state/pid"
    i=0
    while [ $i -lt 100 ]; do
        port=$(tail -n +"$((lines + 1))" "$state/log" |
            sed -n 's/.*msg=listening.*addr=[^ ]*:\([0-9][0-9]*\).*/\1/p' | head -n 1)
        if [ -n "$port" ]; then
            echo "$port" >"$state/port"
            return 0
        fi
        kill -0 "$(cat "$state/pid")" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    echo "live_ventrad: ventrad did not start; its log:" >&2
    cat "$state/log" >&2
    return 1
}

# Sends $1 to the server and waits at most 10 s for it to end.
stop() {
    pid=$(cat "$state/pid" 2>/dev/null) || return 0
    kill "-$1" "$pid" 2>/dev/null || return 0
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null
    return 0
}

if [ "${1:-}" = "--crash" ]; then
    state=$2
    stop KILL
    start "$(cat "$state/port")"
    exit $?
fi

mode=server
if [ "${1:-}" = "--mode" ]; then
    mode=${2:-}
    shift 2
fi
if [ $# -lt 3 ] || { [ "$mode" != server ] && [ "$mode" != client ]; }; then
    echo "usage: live_ventrad.sh [--mode server|client] VENTRAD CONFORM off|default|closed [ARGS...]" >&2
    exit 2
fi
ventrad=$1 conform=$2 limits=$3
shift 3
state=$(mktemp -d "${TMPDIR:-/tmp}/ventra-live.XXXXXX") || exit 1
trap 'stop TERM; rm -rf "$state"' EXIT
trap 'exit 1' INT TERM
mkdir "$state/data"
: >"$state/log"
echo "$ventrad" >"$state/ventrad"
case $limits in
off) echo "--limits off" >"$state/args" ;;
closed) echo "--limits off --registration closed" >"$state/args" ;;
*) : >"$state/args" ;;
esac
start 0 || exit 1
port=$(cat "$state/port")
# Bounded: the whole run may take 400 s at the most (VENTRA_LIVE_TIMEOUT
# seconds when set, for the run of the cases that wait on spec timers).
timeout -k 5 "${VENTRA_LIVE_TIMEOUT:-400}" "$conform" "$mode" --url "ws://127.0.0.1:$port" \
    --crash-cmd "sh '$0' --crash '$state'" \
    --server-key-file "$state/data/server.key" "$@"
rc=$?
if [ $rc -ne 0 ]; then
    echo "live_ventrad: ventra-conform exited $rc; the server's log:" >&2
    tail -n 40 "$state/log" >&2
fi
exit $rc
