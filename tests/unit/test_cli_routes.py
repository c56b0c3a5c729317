"""`mailbus routes`: the routes in order with their conditions, and `--test` showing which
handlers a message would run with which arguments (in-process: it needs no services)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbus.cli import main

HANDLERS = "tests.workers.handlers_routes:router"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("MAILBUS_HANDLERS", HANDLERS)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["routes", *args])
    return code, capsys.readouterr().out.splitlines()


def test_routes_are_listed_in_order_with_their_conditions(capsys) -> None:
    code, lines = run(capsys)
    assert code == 0
    assert lines == [
        "  1. tests.workers.handlers_routes.reply  to='reply+{ticket}@example.com'",
        "  2. tests.workers.handlers_routes.areply  to='areply+{ticket}@example.com'",
        "  3. tests.workers.handlers_routes.gated  to='*@example.com' when=gate stop=True",
        "  4. tests.workers.handlers_routes.raw  to='*@example.com' subject='raw'",
        "  5. tests.workers.handlers_routes.everyone  to='*@example.com'",
    ]


def test_test_shows_each_run_with_its_arguments(capsys) -> None:
    code, lines = run(capsys, "--test", "reply+41@example.com", "--test", "reply+42@example.com",
                      "--subject", "raw please")  # fmt: skip
    assert code == 0
    assert [line.removeprefix("tests.workers.handlers_routes.") for line in lines] == [
        "reply(msg, ticket='41')  for reply+41@example.com",
        "reply(msg, ticket='42')  for reply+42@example.com",
        "raw(msg)  for reply+41@example.com",
        "everyone(msg)  for reply+41@example.com",
    ]


def test_test_with_a_file_and_stop(capsys, tmp_path: Path) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"From: a@example.org\nSubject: gated!\n\nhi\n")
    code, lines = run(capsys, "--test", "x@example.com", "--from", "<>", str(eml))
    assert (code, lines) == (0, ["tests.workers.handlers_routes.gated(msg)  for x@example.com"])


def test_test_without_a_route_says_it_would_be_dead_lettered(capsys) -> None:
    code, lines = run(capsys, "--test", "x@elsewhere.test")
    assert code == 1 and "would be dead-lettered" in lines[0]


def test_without_handlers_it_says_what_to_set(capsys, monkeypatch) -> None:
    monkeypatch.delenv("MAILBUS_HANDLERS")
    assert main(["routes"]) == 2
    assert "MAILBUS_HANDLERS is not set" in capsys.readouterr().err
