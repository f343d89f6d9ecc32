# chat: lines typed on stdin go out one message each, incoming messages show
# as they arrive, and end of input ends the chat once the outbox is empty.
. ./lib.sh
start_server

expect_rc 0 alice register alice
expect_rc 0 bob register bob

printf 'first line\nsecond line\n\nthird, without a newline' | v alice chat bob \
    >"$T/out" 2>"$T/err" || fail "chat exited $?: $(cat "$T/err")"
received bob
printf 'alice: %s\n' "first line" "second line" "third, without a newline" >"$T/want"
cmp -s "$T/got" "$T/want" || { cat "$T/got" >&2; fail "bob did not get the three lines"; }

# bob chats, input held open by a FIFO: alice's message appears live
mkfifo "$T/in"
(exec env VENTRA_PASSPHRASE=pw-bob "$VENTRA_BIN" --server "$URL" --data "$T/bob" chat alice \
    <"$T/in" >"$T/chat.out" 2>"$T/chat.err") &
CHAT=$!
exec 3>"$T/in"
expect_rc 0 alice send bob "are you there?"
wait_for 20 grep -q "alice: are you there?" "$T/chat.out"
echo "yes, live" >&3
exec 3>&-
_rc=0
wait "$CHAT" || _rc=$?
[ "$_rc" = 0 ] || fail "chat exited $_rc: $(cat "$T/chat.err")"
received alice
once "$T/got" "bob: yes, live"
echo ok
