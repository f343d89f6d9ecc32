#!/bin/sh
# `make run`: start the server on its embedded default (127.0.0.1, SQLite
# store in ./var). Until ventrad exists (issue "server/: ventrad v1"), show
# what the foundation has, for real: the catalogue built from spec/ and
# schemas/ by the generators.
set -eu
BUILD=${1:-build}
LISTEN=${VENTRA_LISTEN:-127.0.0.1:8080}
DATA=${VENTRA_DATA:-var}

if [ -x "$BUILD/bin/ventrad" ]; then
	mkdir -p "$DATA"
	exec "$BUILD/bin/ventrad" --listen "$LISTEN" --data "$DATA"
fi

echo "ventrad is not built yet; the protocol it will serve:"
echo
"$BUILD/bin/ventra-conform" rpcs
echo
"$BUILD/bin/ventra-conform" events
echo
"$BUILD/bin/ventra-conform" errors
