"""Calling a handler that may be `async def`: the one event loop a process runs them on.

`call` calls the handler like any function; when what it returns is awaitable (an `async def`
handler, or a plain function returning a coroutine) it runs that to completion on this process's
loop, made on first use and reused by every later job, so clients and pools a handler keeps on
the loop stay usable (a forked worker makes its own). Like `asyncio.run`, tasks a handler leaves
running are cancelled when it returns.

A worker's time limit is RQ's SIGALRM, which raises in the main thread wherever it lands. In the
handler's own frame the exception ends the task like any other. Landing in the loop's select, it
leaves `run_until_complete`; landing in a loop callback, asyncio would only log it, so the loop's
exception handler takes exceptions of the caller's `fatal` types, cancels the handler and has
them re-raised. Either way the handler's task has ended (cancelled and awaited if need be)
before `call` raises, so the job fails (and is retried) exactly like a plain handler that ran
out of time, and the loop is idle and usable for the next job.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any

CANCEL_GRACE = 5.0  # seconds cancelled tasks get to run their cleanup


class _Loop(threading.local):
    """The loop of this process (and thread: `deliver` may run in a test's thread)."""

    loop: asyncio.AbstractEventLoop | None = None
    pid = 0
    task: asyncio.Future[Any] | None = None
    fatal: tuple[type[BaseException], ...] = ()
    escaped: BaseException | None = None


_state = _Loop()


def call(
    handler: Callable[..., Any],
    msg: Any,
    kwargs: dict[str, str],
    *,
    fatal: tuple[type[BaseException], ...] = (),
) -> Any:
    """`handler(msg, **kwargs)`, awaited to completion when it returns an awaitable."""
    result = handler(msg, **kwargs)
    if inspect.isawaitable(result):
        return complete(result, fatal=fatal)
    return result


def loop() -> asyncio.AbstractEventLoop:
    """This process's handler loop, made on first use (again in a forked child)."""
    if _state.loop is None or _state.pid != os.getpid() or _state.loop.is_closed():
        _state.loop = asyncio.new_event_loop()
        _state.loop.set_exception_handler(_on_loop_error)
        _state.pid = os.getpid()
    return _state.loop


def complete(awaitable: Awaitable[Any], *, fatal: tuple[type[BaseException], ...] = ()) -> Any:
    """Run `awaitable` on the process's loop; on any exception its task is cancelled first."""
    if _running_loop() is not None:
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never started: no "was never awaited" warning on top
        raise RuntimeError(
            "an async handler was called from inside a running event loop; mailbus runs async "
            "handlers on a loop of its own: call mailbus.testing.deliver from a plain def test"
        )
    running = loop()
    task = asyncio.ensure_future(awaitable, loop=running)
    _state.task, _state.fatal, _state.escaped = task, fatal, None
    try:
        result = running.run_until_complete(task)
    except BaseException:
        if _state.escaped is None:
            raise
    finally:
        _state.task = None
        escaped, _state.escaped = _state.escaped, None
        _settle(running)
    if escaped is not None:  # the time limit hit in a loop callback: the handler was cancelled
        raise escaped
    return result


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _on_loop_error(running: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's handler for exceptions raised in loop callbacks: a fatal one (the time limit's
    signal landing there) stops the handler and is re-raised by `complete`; the rest is logged."""
    error = context.get("exception")
    if isinstance(error, _state.fatal) and _state.task is not None:
        _state.escaped = _state.escaped or error
        _state.task.cancel()
        return
    running.default_exception_handler(context)


def _settle(running: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still pending on the loop (the handler after an error, tasks it left) and
    let it unwind for up to CANCEL_GRACE seconds, so the next job starts on an idle loop."""
    pending = [task for task in asyncio.all_tasks(running) if not task.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    done, _ = running.run_until_complete(asyncio.wait(pending, timeout=CANCEL_GRACE))
    for task in done:  # retrieved, so asyncio does not log "exception was never retrieved"
        if not task.cancelled():
            task.exception()
