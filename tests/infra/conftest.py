"""Loads infra/terraform with python-hcl2 into plain dicts the wiring tests can walk.

python-hcl2 8 keeps HCL quoting (`"\"TCP\""`), wraps expressions as `"${...}"` and marks blocks
with `__is_block__`; `normalise` strips quotes from literals and drops the markers, so a test
reads `listener["port"] == 25` and `rule["cidr_ipv4"]` like the Terraform source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TERRAFORM = INFRA / "terraform"

_MARKERS = {"__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__"}


def normalise(value: Any) -> Any:
    """Turn python-hcl2's output into the values written in the .tf source."""
    if isinstance(value, dict):
        return {normalise(k): normalise(v) for k, v in value.items() if k not in _MARKERS}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


class Module:
    """All .tf files of the root module, merged, with lookups by block type and name."""

    def __init__(self, directory: Path) -> None:
        hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is in the dev extra: '.[dev]'")
        self.files: dict[str, dict[str, Any]] = {}
        for path in sorted(directory.glob("*.tf")):
            with path.open(encoding="utf-8") as fh:
                self.files[path.name] = normalise(hcl2.load(fh))

    def _blocks(self, kind: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for parsed in self.files.values():
            for entry in parsed.get(kind, []):
                for type_name, named in entry.items():
                    for name, body in named.items():
                        found[f"{type_name}.{name}"] = body
        return found

    def resources(self, type_name: str) -> dict[str, dict[str, Any]]:
        """`{name: body}` of every resource of `type_name`."""
        prefix = type_name + "."
        return {
            k[len(prefix) :]: v for k, v in self._blocks("resource").items() if k.startswith(prefix)
        }

    def resource(self, type_name: str, name: str) -> dict[str, Any]:
        return self.resources(type_name)[name]

    def data(self, type_name: str, name: str) -> dict[str, Any]:
        return self._blocks("data")[f"{type_name}.{name}"]

    def variables(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for parsed in self.files.values():
            for entry in parsed.get("variable", []):
                found.update(entry)
        return found

    def locals(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for parsed in self.files.values():
            for entry in parsed.get("locals", []):
                found.update(entry)
        return found

    def outputs(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for parsed in self.files.values():
            for entry in parsed.get("output", []):
                found.update(entry)
        return found


def ref(expression: str) -> str:
    """`"${aws_lb.smtp.arn}"` -> `"aws_lb.smtp.arn"`, for comparing references."""
    if expression.startswith("${") and expression.endswith("}"):
        return expression[2:-1]
    return expression


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The one nested block `name` of a resource body (python-hcl2 lists blocks)."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, (
        f"expected one {name} block, got {blocks!r}"
    )
    return blocks[0]


@pytest.fixture(scope="session")
def tf() -> Module:
    return Module(TERRAFORM)
