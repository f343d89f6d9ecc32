#!/bin/sh
# `make bench`: a short run of every ventra-bench mode, each figure with the
# baseline measured in the same run and their ratio (bench/README.md,
# DESIGN.md section 10).
set -eu
BUILD=${1:-build}
BENCH=$BUILD/bin/ventra-bench

if [ ! -x "$BENCH" ]; then
	echo "bench: $BENCH is not built (make build)" >&2
	exit 1
fi

# About one second per figure (15 figures, in interleaved rounds).
"$BENCH" crypto --seconds 1

# The network modes: each starts its own ventrad beside ventra-bench (--limits off, a
# temporary data directory), stops it with SIGTERM and checks that it
# exits 0. `--baseline auto` starts bench/baseline's relay_baseline the
# same way. About 40 s in all; bench/README.md has the longer runs.
net=0
"$BENCH" relay --pairs 8 --rate 5000 --duration 3 --size 256 --baseline auto || net=1
"$BENCH" conns -n 2000 --hold 3 || net=1
"$BENCH" drain -n 10000 || net=1
if [ "$net" -ne 0 ]; then
	echo "bench: a network mode failed (see above)" >&2
	exit 1
fi
