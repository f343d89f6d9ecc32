# ventra --help lists the commands and the exit statuses; usage errors
# exit 2; no server is involved.
. ./lib.sh

"$VENTRA_BIN" --help >"$T/help" || fail "ventra --help exited $?"
for cmd in register link devices delete-account send recv chat history contacts \
    verify accept group "Exit status"; do
    grep -q -e "$cmd" "$T/help" || fail "ventra --help does not mention $cmd"
done
for code in 0 1 2 3 4 5 6; do
    grep -q "^  $code  " "$T/help" || fail "ventra --help does not explain exit status $code"
done
"$VENTRA_BIN" send --help >"$T/out" || fail "ventra send --help exited $?"
grep -q "usage: ventra send" "$T/out" || fail "ventra send --help shows no usage"

check_usage() {
    _rc=0
    "$VENTRA_BIN" --data "$T/none" "$@" >"$T/out" 2>"$T/err" || _rc=$?
    [ "$_rc" = 2 ] || fail "ventra $* exited $_rc, not 2"
    [ -s "$T/err" ] || fail "ventra $* said nothing on stderr"
}
check_usage frobnicate
check_usage --no-such-option recv
check_usage
check_usage send
check_usage register
check_usage register a b
check_usage group frob
check_usage recv --sideways
check_usage --timeout 0 recv

# a command on a data directory without an account: status 5, nothing created
_rc=0
VENTRA_PASSPHRASE=x "$VENTRA_BIN" --data "$T/none" contacts 2>"$T/err" || _rc=$?
[ "$_rc" = 5 ] || fail "contacts without an account exited $_rc, not 5"
[ ! -e "$T/none" ] || fail "contacts without an account created $T/none"
echo ok
