#!/usr/bin/env python3
"""Fails when an include points the wrong way, between layers or between folders of a layer.

Layers: runner -> remote -> engine. Inside a layer, each folder may include only the folders
listed for it (and itself); a file directly in the layer folder counts as folder "". The table
is the README's layout table; a folder missing from it is an error, so a new folder must be
placed in the order on purpose.
"""
import pathlib
import re
import sys

LAYERS = {"engine": {"engine"}, "remote": {"engine", "remote"}, "runner": {"engine", "remote", "runner"}}

# folder -> folders it may include (itself always). Lower folders never include higher ones.
FOLDERS = {
    "engine": {
        "core": set(),
        "stats": {"core"},
        "tls": {"core", "stats"},
        "traffic": {"core", "stats", "tls", "worker"},
        "worker": {"core", "stats", "tls", "traffic"},
        "session": {"core", "stats", "tls", "traffic", "worker"},
        "forwarder": {"core", "stats", "tls", "traffic", "worker", "session"},
        "wire": {"core", "stats", "tls", "traffic"},
    },
    "remote": {
        "ssh": {""},
        "": {"ssh"},
    },
    "runner": {
        "plan": set(),
        "results": {"plan"},
        "report": {"results", "plan"},
        "orchestrate": {"report", "results", "plan"},
        "cli": {"orchestrate", "report", "results", "plan"},
    },
}

# Runner folders that may include the remote layer: only orchestration talks to agents, and the
# CLI, whose `agent` command is the agent's entry point.
REMOTE_USERS = {"orchestrate", "cli"}

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"](engine|remote|runner)/([^">]+)[">]')


def folder_of(layer_dir: pathlib.Path, f: pathlib.Path) -> str:
    rel = f.relative_to(layer_dir)
    return rel.parts[0] if len(rel.parts) > 1 else ""


def violations(src: pathlib.Path):
    for layer, allowed in LAYERS.items():
        layer_dir = src / layer
        for f in sorted(layer_dir.rglob("*")):
            if f.suffix not in {".hpp", ".cpp", ".h", ".cc"}:
                continue
            here = folder_of(layer_dir, f)
            if here not in FOLDERS[layer]:
                yield f"{f}: folder '{here}' of {layer} is not in the layering table"
                continue
            for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                to_layer, path = m.group(1), m.group(2)
                where = f"{f}:{n}"
                if to_layer not in allowed:
                    yield f"{where}: {layer} includes {to_layer}: {line.strip()}"
                    continue
                if layer == "runner" and to_layer == "remote" and here not in REMOTE_USERS:
                    yield f"{where}: runner/{here} includes remote (only {', '.join(sorted(REMOTE_USERS))} may): {line.strip()}"
                if to_layer != layer:
                    continue
                parts = pathlib.PurePosixPath(path).parts
                there = parts[0] if len(parts) > 1 else ""
                if there != here and there not in FOLDERS[layer][here]:
                    yield f"{where}: {layer}/{here or '.'} includes {layer}/{there or '.'}: {line.strip()}"


def self_test():
    """The checker must catch each kind of bad include: build tiny trees with one each."""
    import tempfile
    cases = {
        "engine/core/bad.cpp": '#include "runner/plan/plan.hpp"\n',        # layer, wrong way
        "engine/core/up.cpp": '#include "engine/worker/worker.hpp"\n',      # folder, wrong way
        "runner/plan/up.cpp": '#include "runner/results/record.hpp"\n',    # plan -> results
        "runner/results/remote.cpp": '#include "remote/agent_client.hpp"\n',  # remote outside orchestrate
        "runner/stray/x.cpp": "int x;\n",                                  # folder not in the table
    }
    for path, text in cases.items():
        with tempfile.TemporaryDirectory() as d:
            root = pathlib.Path(d)
            for layer in LAYERS:
                (root / layer).mkdir()
            f = root / path
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
            assert list(violations(root)), f"checker missed {path}: {text.strip()}"
    with tempfile.TemporaryDirectory() as d:  # and must pass a right-way tree
        root = pathlib.Path(d)
        for layer in LAYERS:
            (root / layer).mkdir()
        ok = root / "runner" / "report" / "ok.cpp"
        ok.parent.mkdir(parents=True)
        ok.write_text('#include "runner/results/record.hpp"\n#include "engine/core/job.hpp"\n')
        assert not list(violations(root)), "checker flagged a right-way include"


def main():
    src = pathlib.Path(sys.argv[1])
    if len(sys.argv) > 2 and sys.argv[2] == "--self-test":
        self_test()
    bad = list(violations(src))
    for b in bad:
        print(b)
    print(f"{0 if bad else 1} passed, {1 if bad else 0} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
