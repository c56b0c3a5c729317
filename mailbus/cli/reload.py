"""What `mailbus dev --reload` watches: the `.py` files of the package that holds the user's
handlers (MAILBUS_HANDLERS), found without importing it and polled by modification time, so it
needs no file-system notification library and works on every platform."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def handler_sources(handlers: str) -> list[Path]:
    """The directory of the handlers' top-level package, or its module file if it is one."""
    top = handlers.partition(":")[0].split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [Path(location) for location in spec.submodule_search_locations]
    return [Path(spec.origin)] if spec.origin else []


class Watcher:
    """Tells when a `.py` file under the watched paths was added, removed or changed."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.seen = self._scan()

    def _scan(self) -> dict[Path, int]:
        found: dict[Path, int] = {}
        for path in self.paths:
            files = path.rglob("*.py") if path.is_dir() else [path]
            for file in files:
                try:
                    found[file] = file.stat().st_mtime_ns
                except OSError:  # removed while we looked
                    continue
        return found

    def changed(self) -> Path | None:
        """One file that changed since the last call, else None."""
        now = self._scan()
        before, self.seen = self.seen, now
        for file in now.keys() | before.keys():
            if now.get(file) != before.get(file):
                return file
        return None
