#!/usr/bin/python3
"""Writes the wire vectors of conformance/vectors/wire/ from their sources.

Implements the wire vectors of spec/wire.md (framing, limits, errors). Each
source file under <out>/src/*.txtpb becomes <out>/<name>.json. Valid vectors
are encoded by Google's protoc from text format and their canonical text is
protoc --decode's output, so our own codecs are never the only witness of
their own vectors. Invalid vectors are derived from valid bytes, encoded from
text that breaks a bound, or written as hex. Output is deterministic.

Source format (lines starting with '#' outside a vector body are comments):
  @@type WireFrame | WirePayload        starts a test group
  @@message ventra.v1.Frame             its message type
  @@proto ventra/v1/frame.proto         the .proto defining it
  @id wire/request/ping                 starts a vector (stable id)
  @comment <text>
  @flags F1 F2                          each flag must be in NOTES
  @requirements WIRE-20 ...
  @error ERROR_X                        marks the vector invalid
  @from <id>                            start from another vector's bytes
  @truncate N | @append HEX | @pad N    derive (N < 0 for truncate: drop)
  @hex HEX                              the bytes, literally
  anything else: protobuf text format, encoded with protoc.
Text macros: %B(label,n)% n deterministic bytes, %S(c,n)% n copies of c,
%REP n% ... %END% repeats a block with %I% = 1..n.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys

GENERATOR_VERSION = "1"
ALGORITHM = "ventra-wire-v1"
SCHEMA = "wire_vectors.schema.json"
PAD_FIELD = 15  # an unknown Frame field number used for padding

NOTES = {
    "Request": ("BASIC", "A well-formed client request frame."),
    "Response": ("BASIC", "A well-formed server response frame carrying a body."),
    "ErrorResponse": ("BASIC", "A response carrying a typed Error instead of a body (WIRE-32, WIRE-41)."),
    "Event": ("BASIC", "A well-formed server push frame."),
    "Payload": ("BASIC", "A well-formed end-to-end payload (inside OutgoingEnvelope.content)."),
    "EmptyBody": ("EDGE_CASE", "Decodes as a frame; the body oneof is unset, which dispatch answers with ERROR_UNKNOWN_RPC."),
    "AtLimit": ("EDGE_CASE", "A field exactly at its bound of spec/wire.md, Limits: accepted."),
    "OverLimit": ("EDGE_CASE", "A field one past its bound of spec/wire.md, Limits: ERROR_TOO_LARGE."),
    "OversizeFrame": ("EDGE_CASE", "A frame longer than MAX_FRAME_SIZE: refused before decoding."),
    "NoKind": ("MALFORMED_INPUT", "A frame with no kind set (WIRE-24)."),
    "UnknownKind": ("MALFORMED_INPUT", "A frame whose only field is a kind this version does not know (WIRE-24)."),
    "Truncated": ("MALFORMED_INPUT", "Bytes cut short of the encoding they start."),
    "BadVarint": ("MALFORMED_INPUT", "A varint longer than 10 bytes, overflowing 64 bits, or cut short."),
    "IntegerOverflow": ("MALFORMED_INPUT", "A varint for a 32-bit field whose value does not fit 32 bits; nanopb refuses it, so both codecs do."),
    "WrongWireType": ("MALFORMED_INPUT", "A known field encoded with a wire type its type never uses."),
    "BadLength": ("MALFORMED_INPUT", "A length prefix that runs past the end of its enclosing message."),
    "BadTag": ("MALFORMED_INPUT", "Field number 0, or a group or reserved wire type."),
    "InvalidUtf8": ("MALFORMED_INPUT", "A string field that is not UTF-8 (RFC 3629) or holds U+0000."),
    "MalformedBeatsTooLarge": ("EDGE_CASE", "Both over a bound and malformed: the well-formedness check runs over the whole frame first, so the result is ERROR_MALFORMED_FRAME."),
}

HEADER = [
    "Wire vectors for Ventra v1 (spec/wire.md): one Frame or end-to-end payload per test.",
    "Valid vectors: encoded by protoc from text format; 'text' is protoc --decode's output.",
    "Decoders must decode every valid vector to the same values and re-encode it to the same bytes,",
    "and must reject every invalid one with exactly 'error'.",
]


def fail(msg):
    sys.stderr.write("make-wire-vectors: %s\n" % msg)
    sys.exit(1)


def det_bytes(label, n):
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(("%s/%d" % (label, i)).encode()).digest()
        i += 1
    return out[:n]


def text_quote(data):
    parts = []
    for b in data:
        if 0x20 <= b < 0x7F and b not in (0x22, 0x25, 0x27, 0x5C):
            parts.append(chr(b))
        else:
            parts.append("\\%03o" % b)
    return '"' + "".join(parts) + '"'


def expand(text):
    def rep(m):
        n = int(m.group(1))
        return "".join(m.group(2).replace("%I%", str(i)) for i in range(1, n + 1))

    text = re.sub(r"%REP (\d+)%(.*?)%END%", rep, text, flags=re.S)
    text = re.sub(r"%B\(([^,]+),(\d+)\)%",
                  lambda m: text_quote(det_bytes(m.group(1), int(m.group(2)))), text)
    text = re.sub(r"%S\((.),(\d+)\)%",
                  lambda m: text_quote(m.group(1).encode() * int(m.group(2))), text)
    if "%" in text:
        fail("unexpanded macro in: %s" % text[:200])
    return text


def protoc(args, data, what):
    p = subprocess.run(args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        fail("%s: protoc failed: %s" % (what, p.stderr.decode(errors="replace")))
    return p.stdout


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pad_to(data, total):
    """Appends one unknown length-delimited field so the result is |total| bytes."""
    key = varint((PAD_FIELD << 3) | 2)
    for n in range(total, -1, -1):
        if len(data) + len(key) + len(varint(n)) + n == total:
            return data + key + varint(n) + b"\0" * n
    fail("cannot pad to %d" % total)


def parse_source(path):
    groups = []
    group = None
    vec = None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for line in lines:
        s = line.strip()
        if s.startswith("@@"):
            key, _, val = s[2:].partition(" ")
            if key == "type":
                group = {"type": val.strip(), "vectors": []}
                groups.append(group)
                vec = None
            elif group is None:
                fail("%s: @@%s before @@type" % (path, key))
            else:
                group[key] = val.strip()
        elif s.startswith("@"):
            key, _, val = s[1:].partition(" ")
            val = val.strip()
            if key == "id":
                if group is None:
                    fail("%s: vector before @@type" % path)
                vec = {"id": val, "text": [], "ops": []}
                group["vectors"].append(vec)
            elif vec is None:
                fail("%s: @%s outside a vector" % (path, key))
            elif key in ("comment", "error", "from", "hex"):
                vec[key] = val
            elif key in ("flags", "requirements"):
                vec[key] = val.split()
            elif key in ("truncate", "append", "pad"):
                vec["ops"].append((key, val))
            else:
                fail("%s: unknown directive @%s" % (path, key))
        elif vec is not None:
            vec["text"].append(line)
        elif s and not s.startswith("#"):
            fail("%s: text outside a vector: %s" % (path, s))
    return groups


def build(args):
    src_dir = os.path.join(args.out, "src")
    sources = sorted(n for n in os.listdir(src_dir) if n.endswith(".txtpb"))
    if not sources:
        fail("no sources in %s" % src_dir)
    parsed = [(n, parse_source(os.path.join(src_dir, n))) for n in sources]
    by_id = {}
    outputs = {}
    # Valid and text-encoded vectors first, so derivations can use any id.
    pending = []
    for name, groups in parsed:
        for g in groups:
            for v in g["vectors"]:
                if v["id"] in by_id:
                    fail("duplicate id %s" % v["id"])
                by_id[v["id"]] = v
                v["group"] = g
                pending.append(v)

    def encoded(v, stack=()):
        if "bytes" in v:
            return v["bytes"]
        if v["id"] in stack:
            fail("derivation cycle at %s" % v["id"])
        text = "\n".join(v["text"]).strip()
        g = v["group"]
        if "hex" in v:
            data = bytes.fromhex(v["hex"])
        elif "from" in v:
            if v["from"] not in by_id:
                fail("%s: unknown @from %s" % (v["id"], v["from"]))
            data = encoded(by_id[v["from"]], stack + (v["id"],))
        else:
            data = protoc([args.protoc, "--encode=" + g["message"], "-I" + args.schemas,
                           g["proto"]], expand(text).encode(), v["id"])
        for op, val in v["ops"]:
            if op == "truncate":
                n = int(val)
                data = data[:n] if n >= 0 else data[:len(data) + n]
            elif op == "append":
                data = data + bytes.fromhex(val)
            elif op == "pad":
                data = pad_to(data, int(val))
        v["bytes"] = data
        return data

    for name, groups in parsed:
        out_groups = []
        tc = 0
        used_flags = set()
        for g in groups:
            for key in ("message", "proto"):
                if key not in g:
                    fail("%s: group without @@%s" % (name, key))
            tests = []
            for v in g["vectors"]:
                tc += 1
                for key in ("comment", "flags", "requirements"):
                    if key not in v:
                        fail("%s: missing @%s" % (v["id"], key))
                for fl in v["flags"]:
                    if fl not in NOTES:
                        fail("%s: flag %s has no note" % (v["id"], fl))
                    used_flags.add(fl)
                data = encoded(v)
                t = {"tcId": tc, "id": v["id"], "comment": v["comment"],
                     "flags": v["flags"], "requirements": v["requirements"],
                     "encoded": data.hex()}
                if "error" in v:
                    t["result"] = "invalid"
                    t["error"] = v["error"]
                else:
                    t["result"] = "valid"
                    t["text"] = protoc([args.protoc, "--decode=" + g["message"],
                                        "-I" + args.schemas, g["proto"]],
                                       data, v["id"]).decode("utf-8")
                tests.append(t)
            out_groups.append({"type": g["type"], "messageType": g["message"],
                               "protoFile": g["proto"], "tests": tests})
        doc = {
            "algorithm": ALGORITHM,
            "schema": SCHEMA,
            "generatorVersion": GENERATOR_VERSION,
            "numberOfTests": tc,
            "header": HEADER,
            "notes": {f: {"bugType": NOTES[f][0], "description": NOTES[f][1]}
                      for f in sorted(used_flags)},
            "testGroups": out_groups,
        }
        outputs[name[:-len(".txtpb")] + ".json"] = doc
    return outputs


def validate(outputs, schema_path):
    try:
        import jsonschema
    except ImportError:
        return
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    for name, doc in outputs.items():
        try:
            jsonschema.validate(doc, schema)
        except jsonschema.ValidationError as e:
            fail("%s does not match %s: %s" % (name, schema_path, e.message))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--protoc", default="protoc")
    ap.add_argument("--schemas", default="schemas")
    ap.add_argument("--out", default="conformance/vectors/wire")
    ap.add_argument("--json-schema", default="conformance/schemas/" + SCHEMA)
    a = ap.parse_args()
    outputs = build(a)
    if os.path.exists(a.json_schema):
        validate(outputs, a.json_schema)
    for name in os.listdir(a.out):
        if name.endswith(".json") and name not in outputs:
            os.remove(os.path.join(a.out, name))
    for name, doc in sorted(outputs.items()):
        with open(os.path.join(a.out, name), "w", encoding="utf-8", newline="\n") as f:
            json.dump(doc, f, indent=2, ensure_ascii=True)
            f.write("\n")
        valid = sum(1 for g in doc["testGroups"] for t in g["tests"] if t["result"] == "valid")
        print("%s: %d tests (%d valid, %d invalid)" % (name, doc["numberOfTests"], valid,
                                                     doc["numberOfTests"] - valid))


if __name__ == "__main__":
    main()
