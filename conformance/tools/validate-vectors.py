#!/usr/bin/env python3
"""Validate every vector file against the JSON Schema its `schema` field names.

Walks VECTORS/**/*.json (crypto/, wire/, state/, and any kind added later),
loads SCHEMAS/<schema> for each (draft 2020-12) and reports, per file, the
first error with its JSON path; then the envelope rules no schema can state
(conformance/README.md): tcId runs 1..n through the file, every `id` is
unique, `numberOfTests` is n and every flag used is described in `notes`.

    validate-vectors.py [VECTORS [SCHEMAS]]    (default conformance/vectors, conformance/schemas)
    validate-vectors.py --self-test            (a broken copy must be refused)

Prints one line per file and ends with "N files: P valid, F invalid"; exit 1
when any file is invalid or none was found, 2 on a usage error. The oracle
(conformance/oracle/ventra_oracle.py check) and make-wire-vectors.py validate
their own kind as they generate or recompute it; this checks every committed
file, whatever wrote it, against the schema it claims.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))


def json_path(err):
    """The instance path of |err| as $.a[0].b."""
    out = "$"
    for part in err.absolute_path:
        out += "[%d]" % part if isinstance(part, int) else "." + str(part)
    return out


def first_error(validator, doc):
    """The error that comes first in document order, or None."""
    errors = list(validator.iter_errors(doc))
    if not errors:
        return None
    # document order: compare paths element by element, ints by value
    return min(errors, key=lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, p)
                                      for p in e.absolute_path])


def envelope_errors(doc):
    tests = [t for g in doc["testGroups"] for t in g["tests"]]
    errs = []
    for i, t in enumerate(tests, 1):
        if t["tcId"] != i:
            errs.append("tcId %d where %d was due: tcIds must run 1..n in file order" % (t["tcId"], i))
            break
    seen = set()
    for t in tests:
        if t["id"] in seen:
            errs.append("id %s used twice" % t["id"])
        seen.add(t["id"])
    if doc["numberOfTests"] != len(tests):
        errs.append("numberOfTests is %d, the file has %d tests" % (doc["numberOfTests"], len(tests)))
    flags = {f for t in tests for f in t.get("flags", [])}
    if not flags <= set(doc["notes"]):
        errs.append("flags without a note: %s" % ", ".join(sorted(flags - set(doc["notes"]))))
    return errs


def check_file(path, schemas, validators):
    """The problems of one file (empty when it is valid)."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as e:
        return ["does not parse: %s" % e]
    name = doc.get("schema") if isinstance(doc, dict) else None
    if not isinstance(name, str) or os.path.basename(name) != name:
        return ["$.schema: no schema named (want a file name of %s)" % schemas]
    if name not in validators:
        spath = os.path.join(schemas, name)
        try:
            with open(spath, encoding="utf-8") as fh:
                schema = json.load(fh)
            jsonschema.Draft202012Validator.check_schema(schema)
        except (OSError, ValueError, jsonschema.SchemaError) as e:
            return ["$.schema: cannot use %s: %s" % (spath, e)]
        validators[name] = jsonschema.Draft202012Validator(schema)
    err = first_error(validators[name], doc)
    if err is not None:
        return ["%s: %s (schema %s, rule %s)" % (json_path(err), err.message, name,
                                                 "/".join(str(p) for p in err.absolute_schema_path))]
    return envelope_errors(doc)


def run(vectors, schemas):
    files = []
    for root, dirs, names in os.walk(vectors):
        dirs.sort()
        files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".json")]
    validators, bad = {}, 0
    for path in files:
        errs = check_file(path, schemas, validators)
        rel = os.path.relpath(path, vectors)
        if errs:
            bad += 1
            print("INVALID %s" % rel)
            for e in errs:
                print("    " + e)
        else:
            print("valid   %s" % rel)
    print("%d files: %d valid, %d invalid" % (len(files), len(files) - bad, bad))
    return 1 if bad or not files else 0


def self_test(vectors, schemas):
    """A copy with one wrong value must be refused, naming file and path."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(vectors, os.path.join(tmp, "v"))
        path = os.path.join(tmp, "v", "state", "session.json")
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        doc["testGroups"][0]["tests"][2]["steps"][1]["event"] = "send"
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        p = subprocess.run([sys.executable, __file__, os.path.join(tmp, "v"), schemas],
                           capture_output=True, text=True)
    want = "INVALID state/session.json\n    $.testGroups[0].tests[2].steps[1].event: 'send' does not match"
    ok = p.returncode == 1 and want in p.stdout and "files: " in p.stdout and " 1 invalid" in p.stdout
    print(p.stdout if not ok else "self-test: the changed file is refused with its path")
    return 0 if ok else 1


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test(os.path.join(HERE, "..", "vectors"), os.path.join(HERE, "..", "schemas"))
    if len(argv) > 3 or any(a.startswith("-") for a in argv[1:]):
        sys.stderr.write(__doc__)
        return 2
    vectors = argv[1] if len(argv) > 1 else os.path.join(HERE, "..", "vectors")
    schemas = argv[2] if len(argv) > 2 else os.path.join(HERE, "..", "schemas")
    return run(vectors, schemas)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
