# Case 2: alice on two devices (link, devices approve, link REPLY): both
# see every message, her own from the other device as a sync copy.
. ./lib.sh
start_server

expect_rc 0 alice1 --device-name desk register alice
expect_rc 0 bob register bob
expect_rc 0 alice2 --device-name laptop link
code=$(cat "$T/out")
[ -n "$code" ] || fail "link printed no code"
expect_rc 0 alice1 devices approve "$code"
reply=$(cat "$T/out")
[ "$reply" = "alice/2" ] || fail "approve printed '$reply', not alice/2"
grep -q laptop "$T/err" || fail "approve did not name the device"
expect_rc 0 alice2 link "$reply"

expect_rc 0 alice1 --json devices
"$PY" -c '
import json, sys
d = [json.loads(l) for l in sys.stdin.read().splitlines()]
assert [x["device_id"] for x in d] == [1, 2], d
assert [x["name"] for x in d] == ["desk", "laptop"], d
assert [x["this_device"] for x in d] == [True, False], d
' <"$T/out" || fail "devices list"

expect_rc 0 bob send alice "to both of alice's devices"
received alice1
once "$T/got" "bob: to both of alice's devices"
received alice2
once "$T/got" "bob: to both of alice's devices"

expect_rc 0 alice1 send bob "from the desk"
received alice2
once "$T/got" "-> bob: from the desk"
received bob
once "$T/got" "alice: from the desk"

expect_rc 0 alice2 send bob "from the laptop"
received alice1
once "$T/got" "-> bob: from the laptop"
received bob
once "$T/got" "alice: from the laptop"

for d in alice1 alice2 bob; do
    received $d
    empty "$T/got"
done
echo ok
