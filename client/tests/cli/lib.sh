# Shared by the end-to-end tests of the ventra command line (test_*.sh, one
# CTest each): a ventrad of its own on a free loopback port, a scratch
# directory, one data directory per device, and bounded waits. POSIX sh.
# CMake passes VENTRA_BIN, VENTRAD_BIN and PYTHON3.
set -eu

: "${VENTRA_BIN:?VENTRA_BIN: the ventra binary}"
PY=${PYTHON3:-python3}
T=$(mktemp -d "${TMPDIR:-/tmp}/ventra-cli.XXXXXX")
SRV_PID=
URL=

cleanup() {
    if [ -n "$SRV_PID" ]; then
        kill -TERM "$SRV_PID" 2>/dev/null || true
        wait "$SRV_PID" 2>/dev/null || true
    fi
    if [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "kept $T" >&2; fi
}
trap cleanup EXIT
trap 'exit 129' HUP INT TERM

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$T/srv.log" ]; then
        echo "--- ventrad log (tail)" >&2
        tail -n 20 "$T/srv.log" >&2
    fi
    exit 1
}

# wait_for SECONDS CMD...: runs CMD until it succeeds, at most SECONDS.
wait_for() {
    _deadline=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$_deadline" ] || fail "timed out waiting for: $*"
        sleep 0.05
    done
}

start_server() {
    : "${VENTRAD_BIN:?VENTRAD_BIN: the ventrad binary}"
    mkdir -p "$T/srv"
    "$VENTRAD_BIN" --listen 127.0.0.1:0 --data "$T/srv" --limits off 2>"$T/srv.log" &
    SRV_PID=$!
    wait_for 10 grep -qs 'msg=listening' "$T/srv.log"
    _port=$(sed -n 's/.*msg=listening addr=127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$T/srv.log" |
        head -n 1)
    [ -n "$_port" ] || fail "no port in the listening line"
    URL=ws://127.0.0.1:$_port
}

# v DEVICE ARGS...: ventra on the data directory $T/DEVICE, passphrase
# pw-DEVICE. Global options may follow DEVICE (v alice --json recv).
v() {
    _dev=$1
    shift
    VENTRA_PASSPHRASE="pw-$_dev" "$VENTRA_BIN" --server "$URL" --data "$T/$_dev" \
        --timeout 20 "$@"
}

# expect_rc N DEVICE ARGS...: v DEVICE ARGS with exit status N; stdout in
# $T/out, stderr in $T/err.
expect_rc() {
    _want=$1
    shift
    _rc=0
    v "$@" >"$T/out" 2>"$T/err" || _rc=$?
    if [ "$_rc" != "$_want" ]; then
        echo "--- stdout" >&2
        cat "$T/out" >&2
        echo "--- stderr" >&2
        cat "$T/err" >&2
        fail "ventra $* exited $_rc, not $_want"
    fi
}

# count FILE TEXT: how many lines of FILE are exactly TEXT.
count() {
    grep -c -F -x -e "$2" "$1" 2>/dev/null || true
}

# A line of `ventra recv` without its time: "alice: hi" for "2026-... alice: hi".
strip_time() {
    sed 's/^[0-9-]* [0-9:]* //' "$1"
}

# received DEVICE: runs `recv` on DEVICE, its lines (no time) into $T/got.
received() {
    expect_rc 0 "$1" recv
    strip_time "$T/out" >"$T/got"
}

# once FILE LINE: LINE appears exactly once in FILE.
once() {
    _n=$(count "$1" "$2")
    [ "$_n" = 1 ] || { cat "$1" >&2; fail "'$2' appears $_n times, not once"; }
}

# none FILE LINE: LINE does not appear in FILE.
none() {
    _n=$(count "$1" "$2")
    [ "$_n" = 0 ] || { cat "$1" >&2; fail "'$2' appears $_n times, not at all"; }
}

# empty FILE: FILE holds nothing.
empty() {
    [ ! -s "$1" ] || { cat "$1" >&2; fail "expected no output"; }
}
