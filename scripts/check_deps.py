#!/usr/bin/env python3
"""Checks the Rust dependencies (run by `make lint`), offline once cargo has the index.

Over `cargo metadata` (every package the lock file holds, for every target):
  1. Sources: every dependency comes from crates.io (no git, no other registry, no path outside
     the workspace).
  2. Licences: every package states one, and its SPDX expression is satisfied by the licences
     allowed below (OR takes any side, AND needs both, `WITH` an exception keeps the licence;
     the old `A/B` spelling is read as OR). The workspace's own packages too.
  3. Bans: crates that must not be linked (OpenSSL: the functions use rustls, and a Lambda
     binary linking the system's OpenSSL breaks on the next runtime image).
Exits 1 naming each package and rule broken. It tests itself on made-up packages first, so a
check that cannot fail does not pass.
"""

import json
import re
import subprocess
import sys

CRATES_IO = {
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
}
# Permissive licences (and MPL-2.0, file-level copyleft: its files stay as they are). BlueOak-1.0.0
# is minicbor's (CloudWatch's CBOR protocol), a permissive, OSI-approved licence.
ALLOWED = {
    "0BSD", "Apache-2.0", "BlueOak-1.0.0", "BSD-2-Clause", "BSD-3-Clause", "BSL-1.0", "CC0-1.0", "ISC",
    "MIT", "MPL-2.0", "Unicode-3.0", "Unicode-DFS-2016", "Unlicense", "Zlib",
}
BANNED = {"openssl", "openssl-sys", "native-tls"}

TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z0-9.+-]+)")


def tokens(expression):
    """The SPDX expression's tokens (`/` read as OR)."""
    text = expression.replace("/", " OR ")
    found, position = [], 0
    while position < len(text.rstrip()):
        match = TOKEN.match(text, position)
        if not match:
            raise ValueError(f"unreadable licence expression {expression!r}")
        found.append(match.group(1))
        position = match.end()
    return found


def allowed(expression):
    """True when the allowed licences satisfy the SPDX expression."""
    items = tokens(expression)

    def either(i):
        value, i = both(i)
        while i < len(items) and items[i] == "OR":
            right, i = both(i + 1)
            value = value or right
        return value, i

    def both(i):
        value, i = one(i)
        while i < len(items) and items[i] == "AND":
            right, i = one(i + 1)
            value = value and right
        return value, i

    def one(i):
        if i >= len(items):
            raise ValueError(f"licence expression ends early: {expression!r}")
        if items[i] == "(":
            value, i = either(i + 1)
            if i >= len(items) or items[i] != ")":
                raise ValueError(f"unclosed parenthesis in {expression!r}")
            return value, i + 1
        name, i = items[i], i + 1
        if i < len(items) and items[i] == "WITH":
            i += 2  # an exception only widens what the licence allows
        return name in ALLOWED, i

    value, end = either(0)
    if end != len(items):
        raise ValueError(f"unexpected {items[end]!r} in {expression!r}")
    return value


def problems(packages, workspace_ids):
    """One line per package and rule it breaks."""
    found = []
    for package in packages:
        label = f"{package['name']} {package['version']}"
        own = package["id"] in workspace_ids
        source = package.get("source")
        if not own and source not in CRATES_IO:
            found.append(f"{label}: comes from {source or 'a path outside the workspace'}, not crates.io")
        licence = package.get("license")
        if not licence:
            found.append(f"{label}: states no licence (`license` in its Cargo.toml)")
        else:
            try:
                if not allowed(licence):
                    found.append(f"{label}: licence {licence!r} is not satisfied by the allowed ones")
            except ValueError as err:
                found.append(f"{label}: {err}")
        if package["name"] in BANNED:
            found.append(f"{label}: banned (the functions use rustls, never OpenSSL)")
    return found


def self_test():
    """The rules must catch made-up offenders and pass made-up good packages."""
    crates_io = next(iter(CRATES_IO))
    good = [
        {"id": "a", "name": "a", "version": "1", "source": crates_io, "license": "MIT OR Apache-2.0"},
        {"id": "b", "name": "b", "version": "1", "source": crates_io, "license": "(MIT OR Apache-2.0) AND Unicode-3.0"},
        {"id": "c", "name": "c", "version": "1", "source": crates_io, "license": "Apache-2.0 WITH LLVM-exception OR MIT"},
        {"id": "d", "name": "d", "version": "1", "source": crates_io, "license": "MIT/Apache-2.0"},
        {"id": "own", "name": "own", "version": "1", "source": None, "license": "Apache-2.0"},
    ]
    assert problems(good, {"own"}) == [], problems(good, {"own"})
    bad = [
        {"id": "g", "name": "g", "version": "1", "source": "git+https://example.com/g", "license": "MIT"},
        {"id": "l", "name": "l", "version": "1", "source": crates_io, "license": "GPL-3.0-only"},
        {"id": "n", "name": "n", "version": "1", "source": crates_io, "license": None},
        {"id": "m", "name": "m", "version": "1", "source": crates_io, "license": "MIT AND GPL-2.0"},
        {"id": "o", "name": "openssl-sys", "version": "1", "source": crates_io, "license": "MIT"},
        {"id": "p", "name": "p", "version": "1", "source": None, "license": "MIT"},
        {"id": "u", "name": "u", "version": "1", "source": crates_io, "license": "(MIT"},
    ]
    caught = problems(bad, set())
    assert len(caught) == len(bad), caught


def main():
    self_test()
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--locked", "--format-version", "1"],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    found = problems(metadata["packages"], set(metadata["workspace_members"]))
    for line in found:
        print(f"check_deps: {line}", file=sys.stderr)
    if found:
        return 1
    print(f"check_deps: {len(metadata['packages'])} packages: crates.io only, licences allowed, none banned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
