# Case 7: a wrong passphrase: exit status 3, a clear message, and not a
# byte of the store changed.
. ./lib.sh
start_server

expect_rc 0 alice register alice
expect_rc 0 alice contacts
sums() {
    (cd "$T/alice" && find . -type f | sort | xargs sha256sum)
}
sums >"$T/before"

for cmd in contacts recv "send bob x" history; do
    _rc=0
    # shellcheck disable=SC2086
    VENTRA_PASSPHRASE=not-the-passphrase "$VENTRA_BIN" --data "$T/alice" $cmd \
        >"$T/out" 2>"$T/err" || _rc=$?
    [ "$_rc" = 3 ] || fail "$cmd with a wrong passphrase exited $_rc, not 3"
    grep -q "wrong passphrase" "$T/err" || fail "no clear message: $(cat "$T/err")"
    [ ! -s "$T/out" ] || fail "$cmd printed on stdout"
done
printf 'also wrong\n' >"$T/pass"
_rc=0
"$VENTRA_BIN" --data "$T/alice" --passphrase-file "$T/pass" contacts 2>"$T/err" || _rc=$?
[ "$_rc" = 3 ] || fail "--passphrase-file with a wrong passphrase exited $_rc, not 3"

sums >"$T/after"
cmp -s "$T/before" "$T/after" || { diff "$T/before" "$T/after" >&2; fail "the store changed"; }

# the right one still opens it, from a file too (first line, newline dropped)
printf 'pw-alice\n' >"$T/pass"
"$VENTRA_BIN" --data "$T/alice" --passphrase-file "$T/pass" contacts >/dev/null ||
    fail "the right passphrase from a file does not open the store"
echo ok
