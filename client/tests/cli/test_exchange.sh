# Case 1: alice and bob register and write to each other; each recv shows
# each message exactly once, and --json prints objects that parse.
. ./lib.sh
start_server

expect_rc 0 alice register alice
expect_rc 0 bob register bob
expect_rc 0 alice send bob "hello bob, this is alice"
received bob
once "$T/got" "alice: hello bob, this is alice"
[ "$(wc -l <"$T/got")" = 1 ] || fail "bob's recv printed more than the message"

echo "hi alice, bob here" | v bob send alice - >/dev/null 2>"$T/err" || fail "send - failed"
expect_rc 0 alice --json recv
cp "$T/out" "$T/alice.json"
"$PY" - "$T/alice.json" <<'PYEOF' || fail "alice's --json recv is wrong"
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]
assert len(objs) == 1, objs
m = objs[0]
assert m["conversation"] == "bob" and m["sender"] == "bob", m
assert m["text"] == "hi alice, bob here", m
assert m["outgoing"] is False and m["group_id"] is None, m
assert re.fullmatch("[0-9a-f]{32}", m["message_id"]), m
assert m["sender_device"] == 1 and m["sent_at_ms"] > 0 and m["server_time_ms"] > 0, m
PYEOF

# nothing is shown twice
received alice
empty "$T/got"
received bob
empty "$T/got"

# bob's --json too, and the send's own --json answer
expect_rc 0 alice --json send bob "second one"
"$PY" -c 'import json,sys; o=json.loads(sys.stdin.read()); assert o["status"]=="sent", o' \
    <"$T/out" || fail "send --json answer"
expect_rc 0 bob --json recv
"$PY" -c '
import json, sys
objs = [json.loads(l) for l in sys.stdin.read().splitlines()]
assert [o["text"] for o in objs] == ["second one"], objs
assert objs[0]["sender"] == "alice"
' <"$T/out" || fail "bob's --json recv is wrong"

# the history keeps both directions
expect_rc 0 alice history bob
strip_time "$T/out" >"$T/got"
grep -q -x -E -e '-> bob: hello bob, this is alice  \((sent|delivered|read)\)' "$T/got" ||
    { cat "$T/got" >&2; fail "alice's history lacks her message"; }
grep -q -x -F -e "bob: hi alice, bob here" "$T/got" ||
    { cat "$T/got" >&2; fail "alice's history lacks bob's message"; }
echo ok
