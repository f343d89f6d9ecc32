#!/bin/sh
# Rewrites generated/ (and the wire vectors) from spec/ and schemas/.
# Called by `make generate` with the tool paths in the environment; every
# output is deterministic so CI can fail on any diff (STYLE.md).
set -eu

: "${PROTOC:=protoc}" "${PROTOC_C:=protoc-c}" "${PYTHON3:=/usr/bin/python3}"
: "${PROTOC_GEN_NANOPB:=protoc-gen-nanopb}"
: "${PROTOC_GEN_VENTRA:?}" "${VT_SMGEN:?}" "${VT_REQGEN:?}" "${VT_CONSTGEN:?}"

G=generated
WIRE="ventra/v1/frame.proto ventra/v1/auth.proto ventra/v1/prekeys.proto
ventra/v1/messaging.proto ventra/v1/groups.proto ventra/v1/e2e.proto"

rm -rf "$G/pbc" "$G/nanopb" "$G/rpc" "$G/state" "$G/spec"
mkdir -p "$G/pbc" "$G/nanopb" "$G/rpc" "$G/state" "$G/spec"

# Server codecs (protobuf-c) and client codecs (nanopb, static sizes from
# the .options files next to each .proto).
# shellcheck disable=SC2086
"$PROTOC" -Ischemas --c_out="$G/pbc" $WIRE
# shellcheck disable=SC2086
"$PROTOC" -Ischemas --plugin=protoc-gen-nanopb="$PROTOC_GEN_NANOPB" \
	--nanopb_opt=-Ischemas --nanopb_out="$G/nanopb" $WIRE

# RPC dispatch, client stubs, RPC list, error enum, protobuf-c limits.
"$PROTOC" -Ischemas --plugin=protoc-gen-ventra="$PROTOC_GEN_VENTRA" \
	--ventra_out="$G/rpc" --ventra_opt=options_dir=schemas/ventra/v1 \
	ventra/v1/service.proto ventra/v1/frame.proto ventra/v1/e2e.proto

# State machines, requirement registry, constants.
"$VT_SMGEN" "$G/state" spec/state/*.md
"$VT_REQGEN" "$G/spec" spec/*.md spec/state/*.md
"$VT_CONSTGEN" "$G/spec" spec/*.md spec/state/*.md

# Wire vectors: encoded by Google's protoc from text format, so our codecs
# are never the only witness of their own vectors.
"$PYTHON3" conformance/tools/make-wire-vectors.py \
	--protoc "$PROTOC" --schemas schemas --out conformance/vectors/wire

# Crypto vectors: written by the independent Python oracle from
# spec/crypto.md; the C implementation is checked against them.
"$PYTHON3" conformance/oracle/ventra_oracle.py generate conformance/vectors/crypto
