#!/usr/bin/env python3
"""Checks the configuration's JSON Schema (run by `make lint`): every configuration in
`examples/` and every configuration block of the docs is valid against `schema/config.schema.json`
(what an editor would say), and the schema refuses what the deployer refuses by shape (an
unknown field, a wrong kind). That the committed schema matches the Rust types is a unit test
(`input::config::schema`); that the examples pass the functions' own validation is another.
"""

import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent


def problems_of(validator, document):
    return [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in validator.iter_errors(document)]


def main():
    schema = json.loads((ROOT / "schema" / "config.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    # The check must be able to fail: documents the deployer refuses by shape.
    refused = [
        {"apps": [{"name": "a", "cluster": "c", "service": "s", "repository": "r", "tags": ["x"], "colour": 1}]},
        {"apps": [{"name": "a", "cluster": "c", "service": "s", "repository": "r", "tags": "x"}]},
        {"apps": [{"cluster": "c", "service": "s", "repository": "r", "tags": ["x"]}]},
        {"apps": [], "nlb": {"target_groups": [{"target_group_arn": "t"}]}},
    ]
    failed = []
    for document in refused:
        if not problems_of(validator, document):
            failed.append(f"schema: accepts what it must refuse: {json.dumps(document)}")
    examples = sorted((ROOT / "examples").glob("*.json"))
    if not examples:
        failed.append("schema: no examples/*.json to check")
    for path in examples:
        for problem in problems_of(validator, json.loads(path.read_text())):
            failed.append(f"{path.relative_to(ROOT)}: {problem}")
    # The configurations the README and the docs show (an application alone, in a document).
    shown = 0
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for i, block in enumerate(path.read_text().split("```json")[1:]):
            try:
                document = json.loads(block.split("```")[0])
            except ValueError:
                continue  # the docs test names a block that is not JSON
            if not isinstance(document, dict):
                continue
            if "name" in document and "repository" in document:
                document = {"apps": [document]}
            if "apps" in document:
                shown += 1
                for problem in problems_of(validator, document):
                    failed.append(f"{path.relative_to(ROOT)} block {i}: {problem}")
    for line in failed:
        print(line)
    if failed:
        return 1
    print(f"schema: {len(examples)} examples and {shown} configurations of the docs valid, {len(refused)} bad documents refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
