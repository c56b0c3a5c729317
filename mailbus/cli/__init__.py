"""The `mailbus` command: the composition root, and the one place that knows the deployables.

Each subcommand reads the settings once, applies its flags on top, and hands them to the listener,
the workers or an admin action (in the small modules beside this one). Configuration errors print
what to set and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

from mailbus import logs
from mailbus.errors import ConfigError, HandlerLoadError
from mailbus.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ConfigError, HandlerLoadError) as exc:
        print(f"mailbus {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _settings(role: str | None = None, **flags: object) -> Settings:
    return Settings.from_env(role=role).replace(**flags)


def _listen(args: argparse.Namespace) -> int:
    _user_path()  # MAILBUS_RECIPIENT_CHECK may name the user's router or function
    settings = _settings("listen", host=args.host, port=args.port)
    logs.configure(settings.log_level)
    with _metrics(settings, write_only=True):
        from listener.server import serve

        return serve(settings, processes=args.processes)


def _ingress(args: argparse.Namespace) -> int:
    settings = _settings(host=args.host, ingress_port=args.port)
    logs.configure(settings.log_level)
    with _metrics(settings, write_only=True):
        from listener.http.serve import serve

        return serve(settings, processes=args.processes)


def _user_path() -> None:
    """Find the user's handlers module from where they run us."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def _worker(args: argparse.Namespace) -> int:
    _user_path()
    settings = _settings("worker")
    logs.configure(settings.log_level)
    with _metrics(settings, write_only=False):
        from workers.pool import run

        return run(settings, processes=args.processes, burst=args.burst)


@contextlib.contextmanager
def _metrics(settings: Settings, *, write_only: bool) -> Iterator[None]:
    """Serve /metrics, /healthz and /readyz while a role runs, when MAILBUS_METRICS_PORT is set.

    It must start before the role's modules import prometheus_client (see mailbus.metrics).
    Both roles report the queue depth, oldest waiting age and dead letters read from Redis: the
    listener's are what is left to read when the workers have scaled to zero."""
    if settings.metrics_port is None:
        yield
        return
    from mailbus import metrics

    directory = metrics.prepare()
    server = metrics.serve(
        settings.metrics_port,
        metrics.readiness(settings, write_only=write_only),
        collectors=[metrics.QueueCollector(settings)],
    )
    try:
        yield
    finally:
        server.shutdown()
        metrics.cleanup(directory)


def _console(args: argparse.Namespace) -> int:
    if os.getcwd() not in sys.path:  # the health page shows the user's routes
        sys.path.insert(0, os.getcwd())
    settings = _settings(console_host=args.host, console_port=args.port)
    logs.configure(settings.log_level)
    from console.server import serve

    return serve(settings)


def _dev(args: argparse.Namespace) -> int:
    from mailbus.cli.dev import run_dev

    _user_path()
    return run_dev(port=args.port, workers=args.workers, directory=args.dir,
                   console_port=args.console_port, reload=args.reload)  # fmt: skip


def _routes(args: argparse.Namespace) -> int:
    from mailbus.cli.routes import routes

    _user_path()
    return routes(_settings(), test=args.test, mail_from=args.mail_from, subject=args.subject,
                  file=args.file)  # fmt: skip


def _send(args: argparse.Namespace) -> int:
    from mailbus.cli.send import send_file

    if args.server:
        host, _, port = args.server.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError([f"--server {args.server!r} must look like HOST:PORT"])
        target = (host.strip("[]"), int(port))
    else:
        target = ("localhost", _settings().port)
    return send_file(
        args.file, mail_from=args.mail_from, to=args.to, host=target[0], port=target[1]
    )


def _failed(args: argparse.Namespace) -> int:
    from mailbus.cli.admin import failed

    return failed(_settings(), args.action, args.id, requeue_all=args.all)


def _show(args: argparse.Namespace) -> int:
    from mailbus.cli.admin import show

    return show(_settings(), args.id)


def _reconcile(args: argparse.Namespace) -> int:
    from mailbus.cli.admin import reconcile_now

    settings = _settings()
    grace = settings.reconcile_grace if args.grace is None else args.grace
    return reconcile_now(settings, grace=grace)


def _erase(args: argparse.Namespace) -> int:
    from mailbus.cli.erase import erase_now

    return erase_now(_settings(), address=args.address, message_id=args.id, dry_run=args.dry_run)


def _config(args: argparse.Namespace) -> int:
    if args.markdown:
        from mailbus.settings import markdown_table

        print(markdown_table())
        return 0
    settings = _settings()
    for name, value in sorted(vars(settings).items()):
        print(f"{name} = {'(set)' if name == 'console_token' and value else repr(value)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailbus", description="Inbound e-mail as jobs for Python code."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listen = commands.add_parser("listen", help="run the SMTP listener")
    listen.add_argument("--host", help="address to bind (MAILBUS_HOST)")
    listen.add_argument("--port", type=int, help="port to bind (MAILBUS_PORT)")
    listen.add_argument("--processes", type=int, default=1, help="processes sharing the port")
    listen.set_defaults(run=_listen)

    ingress = commands.add_parser(
        "ingress", help="run the HTTP ingress for provider webhooks (SES, Mailgun, ...)"
    )
    ingress.add_argument("--host", help="address to bind (MAILBUS_HOST)")
    ingress.add_argument("--port", type=int, help="port to bind (MAILBUS_INGRESS_PORT)")
    ingress.add_argument("--processes", type=int, default=1, help="processes sharing the port")
    ingress.set_defaults(run=_ingress)

    worker = commands.add_parser("worker", help="run RQ workers that parse and dispatch")
    worker.add_argument("--processes", type=int, default=1, help="worker processes")
    worker.add_argument("--burst", action="store_true", help="drain the queue, then exit")
    worker.set_defaults(run=_worker)

    dev = commands.add_parser("dev", help="listener + workers + a private Redis, no setup")
    dev.add_argument("--port", type=int, default=2525, help="SMTP port on 127.0.0.1")
    dev.add_argument("--workers", type=int, default=1, help="worker processes")
    dev.add_argument("--dir", default=".mailbus", help="where dev data lives")
    dev.add_argument("--console-port", type=int, default=8025, help="web console on 127.0.0.1")
    dev.add_argument(
        "--reload", action="store_true", help="restart the workers when a handler file changes"
    )
    dev.set_defaults(run=_dev)

    console = commands.add_parser("console", help="run the web console (messages, dead letters)")
    console.add_argument("--host", help="address to bind (MAILBUS_CONSOLE_HOST)")
    console.add_argument("--port", type=int, help="port to bind (MAILBUS_CONSOLE_PORT)")
    console.set_defaults(run=_console)

    send = commands.add_parser("send", help="send an .eml file over SMTP and print the reply")
    send.add_argument("file", help="path of the message, or - for standard input")
    send.add_argument("--from", dest="mail_from", help="envelope sender (default: From:)")
    send.add_argument("--to", action="append", help="envelope recipient, repeatable (default: To:)")
    send.add_argument("--server", help="HOST:PORT (default: localhost:MAILBUS_PORT)")
    send.set_defaults(run=_send)

    failed = commands.add_parser("failed", help="list or requeue dead letters")
    failed.add_argument("action", nargs="?", choices=["list", "requeue"], default="list")
    failed.add_argument("id", nargs="?", help="message id to requeue")
    failed.add_argument("--all", action="store_true", help="requeue every dead letter")
    failed.set_defaults(run=_failed)

    show = commands.add_parser("show", help="print a message's status timeline")
    show.add_argument("id", help="message id (from the 250 reply or the logs)")
    show.set_defaults(run=_show)

    reconcile = commands.add_parser(
        "reconcile", help="enqueue stored messages that have no job (after a Redis loss)"
    )
    reconcile.add_argument(
        "--grace", type=float, help="ignore newer objects, seconds (MAILBUS_RECONCILE_GRACE)"
    )
    reconcile.set_defaults(run=_reconcile)

    routes = commands.add_parser(
        "routes", help="print the routes in order, or with --test which handlers would run"
    )
    routes.add_argument(
        "--test", action="append", metavar="ADDRESS", help="envelope recipient, repeatable"
    )
    routes.add_argument("--from", dest="mail_from", help="envelope sender (default: From:)")
    routes.add_argument("--subject", help="subject of the test message (without FILE)")
    routes.add_argument("file", nargs="?", help="an .eml to test with (- for standard input)")
    routes.set_defaults(run=_routes)

    erase = commands.add_parser(
        "erase", help="remove every stored message an address appears in, or one message"
    )
    target = erase.add_mutually_exclusive_group(required=True)
    target.add_argument("--address", help="envelope or header address (From, To, Cc, ...)")
    target.add_argument("--id", help="one message id")
    erase.add_argument("--dry-run", action="store_true", help="print what would go, remove none")
    erase.set_defaults(run=_erase)

    config = commands.add_parser("config", help="print the effective configuration")
    config.add_argument(
        "--markdown", action="store_true", help="print the README's configuration table"
    )
    config.set_defaults(run=_config)
    return parser


if __name__ == "__main__":
    sys.exit(main())
