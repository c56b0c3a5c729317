"""The file store: one file per key under a directory, for `mailbus dev` and single-host setups.

Writes go to a temporary name in the same directory, are fsynced, then renamed over the final
name and the directory is fsynced, so a crash leaves either the old state or the whole new file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mailbus.errors import NotFound, StoreError
from mailbus.stores.base import put_each_new


class FileStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.url = f"file://{self.root}"

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StoreError(f"file store: refusing unsafe key {key!r}")
        return self.root / key

    def put_raw(self, key: str, data: bytes, *, pipeline: Any = None) -> None:
        self.put(key, data)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StoreError(f"file store: cannot write {key}: {exc}") from exc

    def put_new(self, items: Mapping[str, bytes]) -> None:
        put_each_new(self, items)

    def get(self, key: str) -> bytes:
        return self.get_head(key, -1)

    def get_head(self, key: str, size: int) -> bytes:
        try:
            with self._path(key).open("rb") as handle:
                return handle.read(size)
        except FileNotFoundError as exc:
            raise NotFound(f"file store: {key} not found") from exc
        except OSError as exc:
            raise StoreError(f"file store: cannot read {key}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"file store: cannot delete {key}: {exc}") from exc

    def renew(self, key: str) -> bool:
        """The file's mtime is its age (`older_than`): touch it."""
        try:
            os.utime(self._path(key))
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"file store: cannot renew {key}: {exc}") from exc

    def older_than(self, prefix: str, moment: float) -> Iterator[str]:
        """Keys under `prefix` last written or renewed before `moment` (epoch seconds): what
        the retention sweep (mailbus.retention) may remove."""
        for key in self.keys(prefix):
            try:
                if self._path(key).stat().st_mtime < moment:
                    yield key
            except FileNotFoundError:  # removed meanwhile
                continue
            except OSError as exc:
                raise StoreError(f"file store: cannot read {key}: {exc}") from exc

    def keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        directory, _, stem = prefix.rpartition("/")
        base = self._path(directory) if directory else self.root
        try:
            names = sorted(e.name for e in os.scandir(base) if e.is_file())
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"file store: cannot list {prefix}: {exc}") from exc
        for name in names:
            key = f"{directory}/{name}" if directory else name
            if name.startswith(stem) and not name.startswith(".tmp-") and key > start_after:
                yield key
