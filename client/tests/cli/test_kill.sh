# Case 4: the client killed between receiving and acknowledging. The
# library stores a message, calls back, then acknowledges, so after a kill
# the server may push it again and the client must drop the duplicate.
# First `recv --follow` is killed (SIGKILL) right after it printed the
# message: across both runs it appears exactly once. Then, to make sure
# the kill falls before the ack, the message callback is stopped in its
# write to a full pipe when it is killed: the message is stored (history),
# pushed again, dropped as a duplicate, and shown by no later recv.
. ./lib.sh
start_server

expect_rc 0 alice register alice
expect_rc 0 bob register bob

run_follow() {
    (exec env VENTRA_PASSPHRASE=pw-bob "$VENTRA_BIN" --server "$URL" --data "$T/bob" \
        recv --follow >"$T/follow.out" 2>"$T/follow.err") &
    FOLLOW=$!
}
has_line() {
    strip_time "$T/follow.out" | grep -q -x -F -e "$1"
}

for i in 1 2 3; do
    : >"$T/follow.out"
    run_follow
    expect_rc 0 alice send bob "survive the kill $i"
    wait_for 20 has_line "alice: survive the kill $i"
    kill -KILL "$FOLLOW"
    wait "$FOLLOW" 2>/dev/null || true
    strip_time "$T/follow.out" >"$T/first"
    received bob
    cat "$T/first" "$T/got" >"$T/both"
    once "$T/both" "alice: survive the kill $i"
done

# and SIGTERM ends --follow cleanly, with status 0
run_follow
expect_rc 0 alice send bob "one more"
wait_for 20 has_line "alice: one more"
kill -TERM "$FOLLOW"
_rc=0
wait "$FOLLOW" || _rc=$?
[ "$_rc" = 0 ] || fail "recv --follow exited $_rc on SIGTERM"

# killed inside the message callback, before the ack: its stdout is a full
# pipe, so printing blocks; the kill comes when /proc shows it blocked there
cat >"$T/stuck.py" <<'PYEOF'
import fcntl, os, subprocess, sys, time
ventra, url, data, flag = sys.argv[1:5]
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, os.O_NONBLOCK)
try:
    while True:
        os.write(w, b"x")
except BlockingIOError:
    pass
fcntl.fcntl(w, fcntl.F_SETFL, 0)
p = subprocess.Popen([ventra, "--server", url, "--data", data, "recv", "--follow"],
                     stdout=w, stderr=subprocess.DEVNULL)
open(flag, "w").close()
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    with open("/proc/%d/wchan" % p.pid) as f:
        if "pipe_write" in f.read():
            p.kill()
            p.wait()
            sys.exit(0)
    time.sleep(0.02)
p.kill()
sys.exit("ventra never blocked printing the message")
PYEOF
VENTRA_PASSPHRASE=pw-bob "$PY" "$T/stuck.py" "$VENTRA_BIN" "$URL" "$T/bob" "$T/started" &
STUCK=$!
wait_for 20 test -e "$T/started"
expect_rc 0 alice send bob "killed before the ack"
wait "$STUCK" || fail "the stuck client was not killed in its callback"
received bob
none "$T/got" "alice: killed before the ack"
received bob
empty "$T/got"

expect_rc 0 bob history alice
strip_time "$T/out" >"$T/got"
for i in 1 2 3; do
    once "$T/got" "alice: survive the kill $i"
done
once "$T/got" "alice: killed before the ack"
echo ok
