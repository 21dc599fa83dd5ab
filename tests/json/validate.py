#!/usr/bin/env python3
"""Validates JSON lines read from standard input against schema/record.schema.json
(the `jsonschema` package, Draft 2020-12, with format checking). Prints one line per
invalid record and exits 1 if any; prints `N records valid` otherwise."""
import json
import pathlib
import sys

import jsonschema

schema_path = pathlib.Path(__file__).resolve().parents[2] / "schema/record.schema.json"
schema = json.loads(schema_path.read_text())
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
bad = 0
count = 0
for number, line in enumerate(sys.stdin, 1):
    count += 1
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        print(f"line {number}: not JSON: {e}")
        bad += 1
        continue
    for error in validator.iter_errors(record):
        print(f"line {number}: {'/'.join(map(str, error.path))}: {error.message}")
        bad += 1
if count == 0:
    print("no records")
    sys.exit(1)
print(f"{count} records, {bad} errors")
sys.exit(1 if bad else 0)
