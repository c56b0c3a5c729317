"""The Procfile, the image, docker-compose and the ECS tasks all run the same two commands."""

from __future__ import annotations

import json
import re

import pytest

from tests.infra.conftest import INFRA, ROOT, Module

EXPECTED = {"listener": "mailbus listen", "worker": "mailbus worker"}
# Procfile roles a deployment runs only when it needs them.
OPTIONAL = {"ingress": "mailbus ingress", "console": "mailbus console"}


def _dockerfile_instruction(name: str) -> str:
    text = (INFRA / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(.+)$", text, flags=re.MULTILINE)
    assert found, f"no {name} in infra/Dockerfile"
    return found[-1].strip()


def _entrypoint() -> list[str]:
    return json.loads(_dockerfile_instruction("ENTRYPOINT"))


def test_procfile_runs_listen_worker_and_the_console() -> None:
    """The console is a Procfile process of its own (issue 14); the image's services and the
    ECS tasks run only the two mail roles."""
    procfile = ROOT / "Procfile"
    if not procfile.is_file():
        pytest.skip("Procfile not committed yet")
    lines = dict(
        (part.strip() for part in line.split(":", 1))
        for line in procfile.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert lines == {**EXPECTED, **OPTIONAL}


def test_image_entrypoint_is_mailbus() -> None:
    assert _entrypoint() == ["mailbus"]


def test_compose_runs_the_procfile_commands() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML (pulled in by moto) parses the compose file")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    for role, command in EXPECTED.items():
        service = services[role]
        entrypoint = service.get("entrypoint", _entrypoint())
        assert " ".join([*entrypoint, *service["command"]]) == command
        assert service["build"]["dockerfile"] == "infra/Dockerfile"
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    assert "--appendonly" in redis["command"] and "noeviction" in redis["command"]
    assert services["listener"]["environment"]["MAILBUS_DOMAINS"]


def test_ecs_tasks_run_the_procfile_commands(tf: Module) -> None:
    # The ECS command is the role's subcommand, optionally followed by --processes N.
    locals_ = tf.locals()
    for role, command in EXPECTED.items():
        subcommand = command.split()[1]
        assert locals_[f"{role}_command"].startswith(f'${{concat(["{subcommand}"]')
        assert locals_[f"{role}_container"]["command"] == f"${{local.{role}_command}}"
        assert "entryPoint" not in locals_[f"{role}_container"]  # the image's: mailbus
