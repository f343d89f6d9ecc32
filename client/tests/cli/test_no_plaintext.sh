# Case 8: no file of either store (nor of the server) holds the plaintext
# of a message sent and received.
. ./lib.sh
start_server

text="zebra-quartz-7731 the canary of the plaintext"
expect_rc 0 alice register alice
expect_rc 0 bob register bob
expect_rc 0 alice send bob "$text"
received bob
once "$T/got" "alice: $text"
expect_rc 0 bob send alice "re: $text"
received alice

for dir in alice bob srv; do
    n=$(find "$T/$dir" -type f -exec cat {} + | grep -a -c -F -e "zebra-quartz" || true)
    [ "$n" = 0 ] || fail "$dir's files hold the plaintext ($n lines)"
done
# the words are there for the test to find when it is not encrypted
expect_rc 0 alice history bob
grep -q "zebra-quartz" "$T/out" || fail "the history lacks the message"
echo ok
