# Case 5: bob deletes his account and registers the name again with a new
# identity key (a new data directory). alice's send in between fails (no
# such user, status 5); her first send to the new bob is held (status 4)
# with the warning on stderr, and goes out after `accept bob`. spec/auth.md
# AUTH-93, AUTH-94; spec/crypto.md CRYPTO-127, CRYPTO-128.
. ./lib.sh
start_server

expect_rc 0 alice register alice
expect_rc 0 bob register bob
expect_rc 0 alice send bob "before the change"
received bob
once "$T/got" "alice: before the change"

expect_rc 0 bob delete-account --yes
expect_rc 5 alice send bob "to nobody"
grep -q "no such user" "$T/err" || fail "the send to a deleted account does not say why"

expect_rc 0 bob2 register bob
expect_rc 4 alice send bob "after the change"
grep -q "WARNING: the identity key of bob" "$T/err" || fail "no warning on stderr"
grep -q "ventra verify bob" "$T/err" || fail "the warning does not say to verify"
grep -q "ventra accept bob" "$T/err" || fail "the warning does not name accept"
[ ! -s "$T/out" ] || fail "a held send printed on stdout"

received bob2
none "$T/got" "alice: after the change"

expect_rc 0 alice contacts
grep -q "^bob .*CHANGED" "$T/out" || { cat "$T/out" >&2; fail "contacts do not show the change"; }
expect_rc 0 alice verify bob
grep -q -E '^    [0-9]{5} [0-9]{5} [0-9]{5} [0-9]{5}$' "$T/out" || fail "no safety number"

expect_rc 0 alice accept bob
grep -q "verify bob" "$T/err" || fail "accept does not remind to compare safety numbers"
received bob2
once "$T/got" "alice: after the change"

expect_rc 0 alice send bob "all good now"
received bob2
once "$T/got" "alice: all good now"
echo ok
