"""External checkers on infra/: `terraform fmt` and checkov, each skipped when not installed."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

from tests.conftest import unavailable
from tests.infra.conftest import INFRA, ROOT, TERRAFORM


def test_terraform_fmt_check() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        unavailable("terraform binary not on PATH: install Terraform >= 1.6 to check formatting")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def _checkov_command() -> list[str] | None:
    on_path = shutil.which("checkov")
    if on_path:
        return [on_path]
    if importlib.util.find_spec("checkov") is not None:
        return [sys.executable, "-m", "checkov.main"]
    return None


def test_checkov_reports_no_failed_checks() -> None:
    command = _checkov_command()
    if command is None:
        unavailable(
            "checkov not installed (it pins its own boto3, so it lives in its own venv): "
            "python3 -m venv .venv-checkov && .venv-checkov/bin/pip install checkov==3.3.30, "
            "then put .venv-checkov/bin on PATH"
        )
    result = subprocess.run(
        [*command, "-d", str(INFRA), "--quiet", "--compact", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    # --quiet prints failed checks only; exit 1 means at least one failed.
    assert result.returncode == 0, f"checkov failed checks:\n{result.stdout}\n{result.stderr}"
