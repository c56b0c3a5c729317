"""The listener's shape (issue 13): aiosmtpd's private names and asyncio's `StreamReader._buffer`
are touched in listener/protocol.py only, and nothing imports the session back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP

LISTENER = Path(__file__).parents[2] / "listener"
# aiosmtpd's private methods, the private attributes its __init__ sets that we rely on, and
# asyncio's StreamReader buffer (aiosmtpd's `_writer` is left out: persist.py has its own).
PRIVATE = {n for n in dir(SMTP) if n.startswith("_") and not n.startswith("__")} | {
    "_reader",
    "_tls_protocol",
    "_original_transport",
    "_timeout_handle",
    "_smtp_methods",
    "_handle_hooks",
    "_buffer",
}
MODULES = sorted(p for p in LISTENER.rglob("*.py") if p.name != "protocol.py")


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LISTENER)))
def test_private_names_only_in_protocol(path: Path) -> None:
    used = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            used.add(node.name)  # overriding a private method is using it too
    assert not used & PRIVATE, f"{path.name} uses {sorted(used & PRIVATE)}: go through protocol.py"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LISTENER)))
def test_no_back_imports_of_the_session(path: Path) -> None:
    """Helpers get what they need passed in (a Protocol types it); only the server builds
    sessions. No `if TYPE_CHECKING:` imports either: they hide the same cycle."""
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module == "listener.session":
            assert path.name == "server.py", f"{path.name} imports the session"
        if isinstance(node, ast.Name):
            assert node.id != "TYPE_CHECKING", f"{path.name} has a TYPE_CHECKING import"
