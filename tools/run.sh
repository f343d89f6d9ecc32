#!/bin/sh
# `make run`: start ventrad on its embedded default: 127.0.0.1:8080, the
# SQLite store and the server key in ./var. Ctrl-C stops it cleanly.
# VENTRA_LISTEN and VENTRA_DATA (and every other VENTRA_* setting, see
# `ventrad --help`) change it.
set -eu
BUILD=${1:-build}
LISTEN=${VENTRA_LISTEN:-127.0.0.1:8080}
DATA=${VENTRA_DATA:-var}
mkdir -p "$DATA"
exec "$BUILD/bin/ventrad" --listen "$LISTEN" --data "$DATA"
