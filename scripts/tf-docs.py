#!/usr/bin/env python3
"""Keeps the variable and output tables of infra/README.md in step with infra/*.tf.

    scripts/tf-docs.py          rewrite the tables between the markers in infra/README.md
    scripts/tf-docs.py --check  exit 1 if the README is out of date (run by scripts/tf-test.sh)
"""
import re
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parent.parent / "infra"


def blocks(text: str, kind: str):
    """Yields (name, body) for each top-level `kind "name" { ... }` block."""
    for m in re.finditer(rf'^{kind} "([^"]+)" \{{\n', text, re.M):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        yield m.group(1), text[m.end(): i - 1]


def attr(body: str, name: str) -> str:
    m = re.search(rf'^  {name}\s*=\s*(.+)$', body, re.M)
    if not m:
        return ""
    v = m.group(1).strip()
    if v.startswith('"') and v.endswith('"'):
        v = v[1:-1].replace('\\"', '"')
    return v


def cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def tables() -> str:
    variables = blocks((INFRA / "variables.tf").read_text(), "variable")
    outputs = blocks((INFRA / "outputs.tf").read_text(), "output")
    out = ["| variable | type | default | description |", "|---|---|---|---|"]
    for name, body in variables:
        default = attr(body, "default")
        default = "`" + default + "`" if default else "required"
        if "\n  default = [" in body or re.search(r"^  default\s*=\s*\[", body, re.M):
            default = "`" + re.search(r"^  default\s*=\s*(\[.*\])$", body, re.M).group(1) + "`"
        out.append(f"| `{name}` | `{attr(body, 'type')}` | {cell(default)} | {cell(attr(body, 'description'))} |")
    out += ["", "| output | description |", "|---|---|"]
    for name, body in outputs:
        out.append(f"| `{name}` | {cell(attr(body, 'description'))} |")
    return "\n".join(out)


def main() -> int:
    readme = INFRA / "README.md"
    text = readme.read_text()
    begin, end = "<!-- BEGIN GENERATED TABLES -->", "<!-- END GENERATED TABLES -->"
    new = text[: text.index(begin) + len(begin)] + "\n" + tables() + "\n" + text[text.index(end):]
    if "--check" in sys.argv:
        if new != text:
            print("infra/README.md is out of date: run scripts/tf-docs.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
