"""The container image: slim Python 3.11, non-root, installed from the repo, health-checked."""

from __future__ import annotations

import re

from tests.infra.conftest import INFRA

TEXT = (INFRA / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")


def _all(name: str) -> list[str]:
    return [m.strip() for m in re.findall(rf"^{name}\s+(.+)$", TEXT, flags=re.MULTILINE)]


def test_base_is_slim_python_311() -> None:
    for base in _all("FROM"):
        assert re.match(r"python:3\.11-slim", base), base


def test_runs_as_a_non_root_user() -> None:
    user = _all("USER")[-1]
    assert user.split(":")[0] not in {"root", "0"}


def test_installs_the_package_from_the_build_context() -> None:
    assert re.search(r"pip install[^\n]* \.(\s|$)", TEXT)
    assert "COPY pyproject.toml" in TEXT


def test_exposes_smtp_and_metrics_ports() -> None:
    exposed = {p for line in _all("EXPOSE") for p in line.split()}
    assert exposed == {"2525", "9100"}
    assert "MAILBUS_METRICS_PORT=9100" in TEXT


def test_healthcheck_probes_healthz_with_urllib() -> None:
    (check,) = _all("HEALTHCHECK")
    assert "urllib.request" in check and "/healthz" in check
    assert "curl" not in check and "wget" not in check
