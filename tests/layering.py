#!/usr/bin/env python3
"""Fails when an include points the wrong way: runner -> remote -> engine only."""
import pathlib
import re
import sys

ALLOWED = {"engine": {"engine"}, "remote": {"engine", "remote"}, "runner": {"engine", "remote", "runner"}}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"](engine|remote|runner)/')


def violations(src: pathlib.Path):
    for layer, allowed in ALLOWED.items():
        for f in sorted((src / layer).rglob("*")):
            if f.suffix not in {".hpp", ".cpp", ".h", ".cc"}:
                continue
            for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if m and m.group(1) not in allowed:
                    yield f"{f}:{n}: {layer} includes {m.group(1)}: {line.strip()}"


def main():
    src = pathlib.Path(sys.argv[1])
    if len(sys.argv) > 2 and sys.argv[2] == "--self-test":
        # The checker must catch a bad include: build a tiny tree with one.
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            root = pathlib.Path(d)
            for layer in ALLOWED:
                (root / layer).mkdir()
            (root / "engine" / "bad.cpp").write_text('#include "runner/plan.hpp"\n')
            assert list(violations(root)), "checker missed an engine -> runner include"
    bad = list(violations(src))
    for b in bad:
        print(b)
    print(f"{0 if bad else 1} passed, {1 if bad else 0} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
