"""The decorator router: which of the user's handlers get a message, chosen by envelope recipient.

Routes are globs (`support@example.com`, `*@help.example.com`, `reply+{ticket}@example.com` with
`{name}` captured) or compiled regexes whose named groups become keyword arguments. Domains are
compared in their canonical form (mailbus.domains): a route for `info@bücher.example` takes mail
to `info@xn--bcher-kva.example` and the other way round; a regex also gets a recipient's Unicode
form when its A-label form does not match. Decorators return the function unchanged, so handlers
stay plain functions that tests call directly. A handler that cannot be called as
`handler(msg, **captures)` is refused when it is registered, so a worker fails at start
(importing the router), never at the first mail.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from mailbus.domains import canonical_address, canonical_domain, unicode_address
from mailbus.errors import HandlerLoadError

Handler = TypeVar("Handler", bound=Callable[..., Any])
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def handler_name(handler: Callable[..., Any]) -> str:
    """A stable name for a handler: the key of its completion record across retries."""
    return f"{handler.__module__}.{getattr(handler, '__qualname__', repr(handler))}"


def check_handler(handler: Callable[..., Any], captures: Iterable[str]) -> None:
    """Refuse a handler the dispatch could not call as `handler(msg, **captures)`, naming it."""
    if not callable(handler):
        raise HandlerLoadError(
            f"{handler!r} is not callable: a handler is a function of the message"
        )
    name = handler_name(handler)
    if inspect.isgeneratorfunction(handler) or inspect.isasyncgenfunction(handler):
        raise HandlerLoadError(
            f"handler {name} is a generator function, so its body would never run: "
            "make it a plain def or async def"
        )
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # some builtins have none: nothing to check
        return
    captures = list(captures)
    try:
        signature.bind(None, **dict.fromkeys(captures, ""))
    except TypeError as exc:
        shown = "".join(f", {capture}=..." for capture in captures)
        raise HandlerLoadError(
            f"handler {name} cannot be called as {name.rsplit('.', 1)[-1]}(msg{shown}), "
            f"which is how its route calls it: {exc}"
        ) from None


def _compile_glob(pattern: str) -> re.Pattern[str]:
    pattern = _canonical_glob_domain(pattern)
    parts: list[str] = []
    position = 0
    for placeholder in _PLACEHOLDER.finditer(pattern):
        parts.append(_glob_to_regex(pattern[position : placeholder.start()]))
        parts.append(f"(?P<{placeholder.group(1)}>[^@]+?)")
        position = placeholder.end()
    parts.append(_glob_to_regex(pattern[position:]))
    return re.compile("".join(parts), re.IGNORECASE)


def _canonical_glob_domain(pattern: str) -> str:
    """The glob with the non-ASCII labels of its domain in A-label form, as recipients are."""
    local, at, domain = pattern.rpartition("@")
    if not at or domain.isascii():
        return pattern
    labels = []
    for label in domain.split("."):
        if not label.isascii():
            if any(char in label for char in "*?{}"):
                raise HandlerLoadError(
                    f"route {pattern!r}: a wildcard or placeholder inside the non-ASCII label "
                    f"{label!r} cannot match; write the label in full or in its xn-- form"
                )
            label = canonical_domain(label) or label.lower()
        labels.append(label)
    return f"{local}@{'.'.join(labels)}"


def _glob_to_regex(text: str) -> str:
    return "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text
    )


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    handler: Callable[..., Any]
    regex: bool = False  # the user's own regex (not a glob): also tried on the Unicode form

    @property
    def name(self) -> str:
        return handler_name(self.handler)


@dataclass(frozen=True)
class Match:
    """One handler to call for a message, with the recipient that chose it and its captures."""

    handler: Callable[..., Any]
    recipient: str | None
    kwargs: dict[str, str]

    @property
    def name(self) -> str:
        return handler_name(self.handler)


class Router:
    """Collects routes; `match` picks every handler whose route matches any envelope recipient."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.default_handler: Callable[..., Any] | None = None

    def route(self, *, to: str | re.Pattern[str]) -> Callable[[Handler], Handler]:
        regex = isinstance(to, re.Pattern)
        pattern = to if isinstance(to, re.Pattern) else _compile_glob(to)

        def register(handler: Handler) -> Handler:
            check_handler(handler, pattern.groupindex)
            self.routes.append(Route(pattern, handler, regex))
            return handler

        return register

    def forward(
        self,
        *,
        to: str | re.Pattern[str],
        url: str,
        **options: Any,
    ) -> None:
        """Route matching mail to a signed JSON webhook instead of a function: a receiver that
        does not answer 2xx fails the route like a raising handler (retried, then dead-lettered).
        `options` are `mailbus.webhooks.forwarder`'s: secret_env, format, timeout, inline_max.
        """
        from mailbus.webhooks import forwarder

        self.route(to=to)(forwarder(url, **options))

    def default(self, handler: Handler) -> Handler:
        """Receives messages that no route takes (instead of the dead-letter registry)."""
        check_handler(handler, ())
        self.default_handler = handler
        return handler

    def match(self, recipients: Iterable[str]) -> list[Match]:
        """Each matching handler once, in registration order; the default when none match."""
        forms = [(recipient, canonical_address(recipient)) for recipient in recipients]
        matches: list[Match] = []
        for route in self.routes:
            for recipient, canonical in forms:
                found = route.pattern.fullmatch(canonical)
                if found is None and route.regex and (unicode := unicode_address(canonical)):
                    found = route.pattern.fullmatch(unicode)
                if found:
                    kwargs = {k: v for k, v in found.groupdict().items() if v is not None}
                    matches.append(Match(route.handler, recipient, kwargs))
                    break
        if not matches and self.default_handler is not None:
            matches.append(Match(self.default_handler, None, {}))
        return matches


def load_router(path: str) -> Router:
    """Import `package.module:attribute` and check it is a Router; fail with the path named."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise HandlerLoadError(
            f"MAILBUS_HANDLERS={path!r}: cannot import module {module_name!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    router = getattr(module, attribute, None)
    if not isinstance(router, Router):
        found = "nothing" if router is None else type(router).__name__
        raise HandlerLoadError(
            f"MAILBUS_HANDLERS={path!r}: {module_name}.{attribute} is {found}, not a "
            "mailbus.Router; point it at the object made with Router()"
        )
    return router
