"""Finding a user's function by its dotted path at boot (STYLE 4, dramatiq's import_object), so
a bad path stops the process at start with the path and the variable named, never at the first
mail. The router has its own, stricter loader (mailbus.router.load_router)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from mailbus.errors import HandlerLoadError


def load_function(path: str, variable: str) -> Callable[..., Any]:
    """Import `package.module:function` and check that it is callable."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise HandlerLoadError(
            f"{variable}={path!r}: cannot import module {module_name!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    found = getattr(module, attribute, None)
    if not callable(found):
        shown = "nothing" if found is None else type(found).__name__
        raise HandlerLoadError(f"{variable}={path!r}: {module_name}.{attribute} is {shown}, "
                               "not a function")  # fmt: skip
    return found
