#!/usr/bin/env python3
"""Checks that the library's imports go one way (run by `make lint`).

Rules, over every `crate::` path (in `use` lines and inline) outside test code:
  1. The library's top-level modules sit in layers; a module may use only lower layers and
     itself. Jobs share a layer and never use each other.
  2. No import circle between top-level modules, and none between the files of one folder
     (a child using its own folder's `mod.rs` is how Rust folders work and is not counted).
  3. The same for devkit/ (the test harness): no circle between its files.
Exits 1 naming each broken rule with the file and line.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lower number = lower layer. A module may use modules of a strictly lower layer, or itself.
LIBRARY_LAYERS = {
    "glob": 0,
    "telemetry": 0,
    "aws": 1,
    "input": 2,
    "error": 3,
    "ownership": 3,
    "lease": 3,
    "records": 3,
    "notify": 3,
    "job": 4,
    "testing": 4,
    "lambda": 6,
    "cli": 6,
    "lib": 7,
}
# Jobs are found, not listed: a top-level module that implements `Job` (adding a function needs no
# line here). They share one layer.
JOB_LAYER = 5
JOBS = set()

PATH_RE = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP_RE = re.compile(r"\buse\s+(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\}", re.S)


def code_lines(path):
    """(line number, text) of the file's non-test code: stops at `#[cfg(test)]`; skips comments."""
    if path.name == "tests.rs":
        return
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#[cfg(test)]"):
            return
        if stripped.startswith("//"):
            continue
        yield number, line


def module_file(src, parts):
    """The file a module path (list of names below the crate root) lives in, or None."""
    base = src.joinpath(*parts)
    for candidate in (base.with_suffix(".rs"), base / "mod.rs"):
        if candidate.is_file():
            return candidate
    return None


def module_parts(src, path):
    """The module path of a file: shared/src/aws/ecs.rs -> ['aws', 'ecs']."""
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    if parts in (["lib"], ["main"]):
        return []
    return parts


def resolve(src, parts):
    """The deepest file a path like ['aws', 'ecs', 'ServiceState'] names, with its module path."""
    for end in range(len(parts), 0, -1):
        found = module_file(src, parts[:end])
        if found:
            return found, parts[:end]
    return None, []


def imports(src, path):
    """(line, target file, target module path) of every `crate::`/`super::` path in `path`."""
    here = module_parts(src, path)
    text_lines = list(code_lines(path))
    text = "\n".join(line for _, line in text_lines)
    found = []

    def add(number, kind, rest):
        names = [n for n in rest.split("::") if n]
        if kind == "super":
            parts = here[:-1] + names
        else:
            parts = names
        target, module = resolve(src, parts)
        if target and target != path:
            found.append((number, target, module))

    for number, line in text_lines:
        for kind, rest in PATH_RE.findall(line):
            add(number, kind, rest)
    for match in USE_GROUP_RE.finditer(text):
        kind, prefix, group = match.groups()
        number = text[: match.start()].count("\n")
        number = text_lines[number][0] if number < len(text_lines) else 0
        for item in re.split(r"[,\s]+", group):
            item = item.strip().split(" as ")[0]
            if item and item != "self" and re.match(r"^[A-Za-z_]", item):
                add(number, kind, f"{prefix}::{item}")
    return found


def find_cycle(graph):
    """One cycle of `graph` (node -> set of nodes) as a list, or None."""
    state = {}
    stack = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def find_jobs(src):
    """Top-level modules of `src` with an `impl Job for`."""
    jobs = set()
    for path in src.rglob("*.rs"):
        if re.search(r"\bimpl\s+Job\s+for\b", path.read_text()):
            jobs.add(module_parts(src, path)[0])
    return jobs


def check_crate(src, layers, problems):
    files = sorted(src.rglob("*.rs"))
    if layers:
        JOBS.clear()
        JOBS.update(find_jobs(src))
        layers = {**layers, **{job: JOB_LAYER for job in JOBS}}
    file_graph = {}
    room_graph = {}
    for path in files:
        here = module_parts(src, path)
        room = here[0] if here else "lib"
        for number, target, module in imports(src, path):
            target_room = module[0] if module else "lib"
            where = f"{path.relative_to(ROOT)}:{number}"
            if layers and room != target_room:
                mine, theirs = layers.get(room), layers.get(target_room)
                if mine is None or theirs is None:
                    problems.append(f"{where}: module `{room}` or `{target_room}` has no layer in scripts/check_imports.py")
                elif room in JOBS and target_room in JOBS:
                    problems.append(f"{where}: job `{room}` uses job `{target_room}`; jobs never use each other (move what they share below them)")
                elif theirs >= mine:
                    problems.append(f"{where}: `{room}` (layer {mine}) uses `{target_room}` (layer {theirs}); imports go down only")
            if room != target_room:
                room_graph.setdefault(room, set()).add(target_room)
            # A child using its own folder's mod.rs is not a circle.
            if target.name == "mod.rs" and path.parent.is_relative_to(target.parent) and path != target:
                continue
            file_graph.setdefault(path, set()).add(target)
    cycle = find_cycle(room_graph)
    if cycle:
        problems.append(f"{src.relative_to(ROOT)}: import circle between modules: {' -> '.join(cycle)}")
    cycle = find_cycle(file_graph)
    if cycle:
        problems.append(
            f"{src.relative_to(ROOT)}: import circle between files: {' -> '.join(str(p.relative_to(ROOT)) for p in cycle)}"
        )


def self_test():
    """The checker catches what it must, on a made-up crate: a layer broken, two jobs tied, a circle."""
    import tempfile

    global ROOT
    saved = ROOT
    with tempfile.TemporaryDirectory() as tmp:
        ROOT = Path(tmp)
        src = ROOT / "src"
        for name, body in {
            "aws/mod.rs": "pub mod ecs;\n",
            "aws/ecs.rs": "use crate::input::Config;\n",
            "input/mod.rs": "pub struct Config;\n",
            "image_push/mod.rs": "use super::nlb_sync::run;\nimpl Job for ImagePush {}\n",
            "nlb_sync/mod.rs": "pub mod run;\nimpl Job for NlbSync {}\n",
            "nlb_sync/run.rs": "use crate::nlb_sync::state::State;\n#[cfg(test)]\nuse crate::lambda::x;\n",
            "nlb_sync/state.rs": "use super::run::go;\n",
        }.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(body)
        problems = []
        check_crate(src, LIBRARY_LAYERS, problems)
    ROOT = saved
    expected = ["`aws` (layer 1) uses `input` (layer 2)", "job `image_push` uses job `nlb_sync`", "circle between files"]
    missing = [e for e in expected if not any(e in p for p in problems)]
    if missing or any("lambda" in p for p in problems):
        print(f"imports: self-test failed: missing {missing}, got {problems}")
        return 1
    return 0


def main():
    if self_test():
        return 1
    problems = []
    check_crate(ROOT / "shared" / "src", LIBRARY_LAYERS, problems)
    check_crate(ROOT / "devkit", None, problems)
    for problem in problems:
        print(f"imports: {problem}")
    if problems:
        return 1
    print("imports: one way (library layers and no circles in shared/src and devkit/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
