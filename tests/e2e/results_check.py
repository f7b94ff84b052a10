#!/usr/bin/env python3
"""Validates a run's reports against schemas/results.schema.json.

Usage: results_check.py SCHEMA RESULTS_DIR   -> results.json against the schema, results.jsonl
                                                line 1 against $defs/run_header, the other lines
                                                against $defs/instance; then the summary counts,
                                                the exit code and the JSONL lines against
                                                results.json
       results_check.py SCHEMA --self-test    -> the schema is valid and rejects broken documents
Prints one line per error; exit 0 when valid, 1 when not, 2 on bad usage.
"""
import copy
import json
import os
import sys

import jsonschema


def validator_for(schema, ref=None):
    jsonschema.Draft202012Validator.check_schema(schema)
    if ref is None:
        return jsonschema.Draft202012Validator(schema)
    sub = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": ref}
    return jsonschema.Draft202012Validator(sub)


def errors_of(validator, doc, where):
    out = []
    for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        path = "/".join(map(str, e.absolute_path)) or "(top)"
        out.append(f"{where}: {path}: {e.message[:300]}")
    return out


def consistency_errors(doc, lines):
    """What a schema cannot say: counts match, the exit code follows from the statuses, and
    results.jsonl holds the same header and instances as results.json."""
    errors = []
    instances = doc.get("instances", [])
    summary = doc.get("summary", {})
    if summary.get("instances") != len(instances):
        errors.append(f"summary.instances {summary.get('instances')} != {len(instances)} instances")
    for status in ["ok", "expect_failed", "failed", "interrupted", "skipped"]:
        n = sum(1 for i in instances if i.get("status") == status)
        if summary.get(status) != n:
            errors.append(f"summary.{status} {summary.get(status)} != {n} instances with that status")
    statuses = {i.get("status") for i in instances}
    regressed = isinstance(doc.get("baseline"), dict) and doc["baseline"].get("regressed") is True
    if doc.get("status") == "interrupted":
        expected = 130
    elif "failed" in statuses:
        expected = 3
    elif "expect_failed" in statuses or regressed:
        expected = 1
    else:
        expected = 0
    if doc.get("status") == "running" and doc.get("exit_code") is not None:
        errors.append(f"exit_code {doc.get('exit_code')} while the run is still running (null until it ends)")
    if doc.get("exit_code") is not None and doc.get("exit_code") != expected:
        errors.append(f"exit_code {doc.get('exit_code')} but the statuses say {expected}")
    if doc.get("finished_at") is not None and doc.get("exit_code") is None:
        errors.append("finished_at without exit_code")
    if doc.get("status") != "running" and doc.get("finished_at") is None:
        errors.append(f"status {doc.get('status')} without finished_at")
    if lines:
        header = lines[0]
        for key in ["schema_version", "tool", "command_line", "plan", "started_at", "hosts"]:
            if header.get(key) != doc.get(key):
                errors.append(f"results.jsonl:1: {key} differs from results.json")
        by_id = {i.get("id"): i for i in instances}
        for n, line in enumerate(lines[1:], 2):
            if line.get("id") not in by_id:
                errors.append(f"results.jsonl:{n}: instance {line.get('id')!r} is not in results.json")
            elif line != by_id[line.get("id")]:
                errors.append(f"results.jsonl:{n}: instance {line.get('id')!r} differs from results.json")
    return errors


def check_dir(schema, directory):
    errors = []
    with open(os.path.join(directory, "results.json"), encoding="utf-8") as f:
        doc = json.load(f)
    errors += errors_of(validator_for(schema), doc, "results.json")
    header = validator_for(schema, "#/$defs/run_header")
    instance = validator_for(schema, "#/$defs/instance")
    with open(os.path.join(directory, "results.jsonl"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines:
        errors.append("results.jsonl: empty")
    parsed = []
    for n, line in enumerate(lines, 1):
        try:
            v = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"results.jsonl:{n}: not JSON: {e}")
            continue
        if n > 1 and isinstance(v, dict) and v.get("type") == "attempt":
            # run --confirm: a rerun of a regressed instance, an instance record plus its attempt
            # number; results.json keeps it in baseline.confirmations[].records.
            if not isinstance(v.get("attempt"), int) or v["attempt"] < 1:
                errors.append(f"results.jsonl:{n}: attempt line without a positive 'attempt'")
            record = {k: x for k, x in v.items() if k != "attempt"}
            record["type"] = "instance"
            errors += errors_of(instance, record, f"results.jsonl:{n}")
            confirmations = (doc.get("baseline") or {}).get("confirmations") or []
            kept = [r for c in confirmations if c.get("attempt") == v.get("attempt") for r in c.get("records", [])]
            if record not in kept:
                errors.append(f"results.jsonl:{n}: attempt {v.get('attempt')} of {v.get('id')!r} is not in "
                              "results.json baseline.confirmations")
            continue
        parsed.append(v)
        errors += errors_of(header if n == 1 else instance, v, f"results.jsonl:{n}")
    if not errors:
        errors += consistency_errors(doc, parsed)
    return errors


def self_test(schema):
    """The schema is a valid 2020-12 schema and is strict where it matters."""
    v = validator_for(schema)
    minimal = {
        "type": "results", "schema_version": 1, "tool": {"name": "kperf-plan", "version": "0.1"},
        "command_line": ["kperf-plan", "p.yaml"],
        "plan": {"name": "p", "file": "p.yaml", "sha256": "0" * 64, "text": "", "model": {}},
        "started_at": "2026-01-01T00:00:00Z", "finished_at": None, "status": "running", "exit_code": None,
        "hosts": {}, "instances": [], "baseline": None,
        "summary": {"instances": 0, "ok": 0, "expect_failed": 0, "failed": 0, "interrupted": 0, "skipped": 0},
    }
    failures = []
    if list(v.iter_errors(minimal)):
        failures.append("rejects a minimal running document")
    for key, value in [("status", "done"), ("exit_code", 7), ("type", "run"), ("started_at", "yesterday")]:
        bad = copy.deepcopy(minimal)
        bad[key] = value
        if not list(v.iter_errors(bad)):
            failures.append(f"accepts {key}={value!r}")
    for key in ["status", "instances", "summary", "hosts"]:
        bad = copy.deepcopy(minimal)
        del bad[key]
        if not list(v.iter_errors(bad)):
            failures.append(f"accepts a document without {key}")
    failed_without_reason = {"status": "failed", "failure": None}
    inst = validator_for(schema, "#/$defs/instance")
    if not any(e.absolute_path and e.absolute_path[0] == "failure" for e in inst.iter_errors(failed_without_reason)):
        failures.append("accepts a failed instance without a failure")
    if consistency_errors(minimal, []):
        failures.append("consistency: rejects a minimal running document")
    miscounted = dict(copy.deepcopy(minimal), status="complete", finished_at="2026-01-01T00:00:01Z")
    miscounted["summary"]["ok"] = 1
    if not consistency_errors(miscounted, []):
        failures.append("consistency: accepts a summary that counts an instance that is not there")
    failed_exit_0 = dict(copy.deepcopy(minimal), status="complete", finished_at="2026-01-01T00:00:01Z",
                         instances=[{"id": "x", "status": "failed"}])
    failed_exit_0["summary"].update(instances=1, failed=1)
    if not consistency_errors(failed_exit_0, []):
        failures.append("consistency: accepts exit code 0 with a failed instance")
    for f in failures:
        print(f"FAIL: self-test: {f}")
    print(f"self-test: {'ok' if not failures else 'FAILED'}")
    return 1 if failures else 0


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    if sys.argv[2] == "--self-test":
        return self_test(schema)
    errors = check_dir(schema, sys.argv[2])
    for e in errors[:50]:
        print(e)
    print(f"{sys.argv[2]}: {'valid' if not errors else f'{len(errors)} schema error(s)'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
