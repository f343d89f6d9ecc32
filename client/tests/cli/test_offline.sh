# Case 3: messages sent while bob's client is not running all arrive, in
# order, exactly once; a second recv shows none.
. ./lib.sh
start_server

expect_rc 0 alice register alice
expect_rc 0 bob register bob
for i in 1 2 3 4 5; do
    expect_rc 0 alice send bob "while you were away $i"
done
received bob
for i in 1 2 3 4 5; do
    once "$T/got" "alice: while you were away $i"
done
printf 'alice: while you were away %s\n' 1 2 3 4 5 >"$T/want"
cmp -s "$T/got" "$T/want" || { cat "$T/got" >&2; fail "not in the order sent"; }
received bob
empty "$T/got"
echo ok
