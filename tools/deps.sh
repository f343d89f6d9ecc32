#!/bin/sh
# Installs the Debian 12 packages Ventra builds and tests with, when any is
# missing. Quick (one dpkg-query) when everything is present. Run as root to
# install; otherwise it names what is missing and fails.
set -eu

PACKAGES="
build-essential cmake pkg-config git
protobuf-compiler libprotobuf-dev libprotoc-dev
protobuf-c-compiler libprotobuf-c-dev
nanopb libnanopb-dev
libsodium-dev libssl-dev
libwebsockets-dev libsqlite3-dev sqlite3 libsqlcipher-dev sqlcipher
libpq-dev postgresql
libhiredis-dev redis-server
librdkafka-dev
libcmocka-dev libjansson-dev
python3 python3-protobuf python3-cryptography python3-nacl python3-jsonschema
"

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root, or: apt-get install$missing" >&2
	exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
