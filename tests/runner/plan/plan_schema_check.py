#!/usr/bin/env python3
"""Checks that schemas/plan.schema.json and the C++ loader agree: every plans/*.yaml is valid
for both, and every tests/runner/plan/bad_plans/*.yaml is rejected by both.

Usage: plan_schema_check.py SOURCE_ROOT KPERF_PLAN_BIN   (meson passes both)
"""
import glob
import json
import os
import subprocess
import sys

import jsonschema
import yaml


def main():
    root, binary = sys.argv[1], sys.argv[2]
    with open(os.path.join(root, "schemas", "plan.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL: {what}")

    def schema_errors(path):
        try:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f)
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            return [f"not YAML: {e}"]
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]

    def loader(path):
        r = subprocess.run([binary, "validate", path], capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout + r.stderr

    good = sorted(glob.glob(os.path.join(root, "plans", "*.yaml")))
    bad = sorted(glob.glob(os.path.join(root, "tests", "runner", "plan", "bad_plans", "*.yaml")))
    check(len(good) >= 3, f"expected at least 3 plans under plans/, found {len(good)}")
    check(len(bad) >= 5, f"expected at least 5 bad plans, found {len(bad)}")
    for path in good:
        errors = schema_errors(path)
        check(not errors, f"{path}: schema rejects a good plan: {errors}")
        rc, out = loader(path)
        check(rc == 0, f"{path}: kperf-plan validate exit {rc}, expected 0:\n{out}")
    for path in bad:
        check(schema_errors(path), f"{path}: schema accepts a bad plan")
        rc, out = loader(path)
        check(rc == 2, f"{path}: kperf-plan validate exit {rc}, expected 2:\n{out}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
