# Case 5, the other order: the re-registered bob writes first. alice's recv
# shows the warning (the new key of bob's device 1, CRYPTO-68); her next
# message is held (status 4) until `accept bob` lets it go.
. ./lib.sh
start_server

expect_rc 0 alice register alice
expect_rc 0 bob register bob
expect_rc 0 alice send bob "before the change"
received bob
expect_rc 0 bob delete-account --yes
expect_rc 0 bob2 register bob

expect_rc 0 bob2 send alice "new bob here"
expect_rc 0 alice recv
grep -q "WARNING: the identity key of bob (device 1) has changed" "$T/err" ||
    fail "recv shows no warning"
grep -q "ventra accept bob" "$T/err" || fail "the warning does not name accept"
strip_time "$T/out" >"$T/got"
none "$T/got" "bob: new bob here"

expect_rc 4 alice send bob "held for a while"
expect_rc 4 alice send bob "held as well"
received bob2
empty "$T/got"

expect_rc 0 alice accept bob
received bob2
once "$T/got" "alice: held for a while"
once "$T/got" "alice: held as well"
echo ok
