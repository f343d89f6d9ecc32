# Case 6: a group of three: create, send, everyone receives it once;
# remove carol, and she no longer receives what is sent.
. ./lib.sh
start_server

for u in alice bob carol; do
    expect_rc 0 $u register $u
done
expect_rc 0 alice --json group create team bob carol
gid=$("$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())["group_id"])' <"$T/out")
echo "$gid" | grep -q -x -E '[0-9a-f]{32}' || fail "group create gave no id"

expect_rc 0 alice group send "$gid" "hello team"
for u in bob carol; do
    received $u
    once "$T/got" "alice #$gid: hello team"
done
received alice
empty "$T/got"

expect_rc 0 bob group send team "bob to the team"
received alice
once "$T/got" "bob #$gid: bob to the team"
received carol
once "$T/got" "bob #$gid: bob to the team"

expect_rc 0 alice --json group list
"$PY" -c '
import json, sys
g = [json.loads(l) for l in sys.stdin.read().splitlines()]
assert len(g) == 1 and g[0]["name"] == "team" and g[0]["members"] == 3, g
assert g[0]["admin"] is True, g
' <"$T/out" || fail "group list"

expect_rc 0 alice group remove "$gid" carol
expect_rc 0 alice group send "$gid" "carol is not here"
received bob
once "$T/got" "alice #$gid: carol is not here"
received carol
none "$T/got" "alice #$gid: carol is not here"
expect_rc 0 carol history
none "$T/out" "carol is not here"

expect_rc 0 bob group leave "$gid"
expect_rc 0 alice group send "$gid" "alone now"
received bob
none "$T/got" "alice #$gid: alone now"
echo ok
