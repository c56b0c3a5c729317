"""infra/write_tls_files.py: the ECS init step that turns secret PEMs into files for STARTTLS."""

from __future__ import annotations

import importlib.util
import stat
from pathlib import Path
from types import ModuleType

import pytest

from tests.infra.conftest import INFRA, Module

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("write_tls_files", INFRA / "write_tls_files.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_writes_cert_and_private_key_files(script: ModuleType, tmp_path: Path) -> None:
    env = {
        "MAILBUS_TLS_CERT_PEM": CERT,
        "MAILBUS_TLS_KEY_PEM": KEY,
        "MAILBUS_TLS_DIR": str(tmp_path),
    }
    assert script.main(env) == 0
    assert (tmp_path / "cert.pem").read_text() == CERT + "\n"
    assert (tmp_path / "key.pem").read_text() == KEY + "\n"
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o400
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("missing", ["MAILBUS_TLS_CERT_PEM", "MAILBUS_TLS_KEY_PEM"])
def test_refuses_a_missing_or_non_pem_value(
    script: ModuleType, tmp_path: Path, missing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        "MAILBUS_TLS_CERT_PEM": CERT,
        "MAILBUS_TLS_KEY_PEM": KEY,
        "MAILBUS_TLS_DIR": str(tmp_path),
    }
    env[missing] = "not a pem"
    assert script.main(env) == 1
    assert missing in capsys.readouterr().err


def test_listener_waits_for_the_init_container_and_reads_the_files(tf: Module) -> None:
    locals_ = tf.locals()
    init = locals_["tls_init_container"]
    assert init["essential"] is False
    assert init["entryPoint"] == ["python", "/usr/local/lib/mailbus/write_tls_files.py"]
    assert {s["name"] for s in init["secrets"]} == {"MAILBUS_TLS_CERT_PEM", "MAILBUS_TLS_KEY_PEM"}
    listener = locals_["listener_container"]
    assert '"tls-init", condition = "SUCCESS"' in listener["dependsOn"]
    env = locals_["listener_environment"]
    assert 'MAILBUS_TLS_CERT = "${local.tls_dir}/cert.pem"' in env
    assert 'MAILBUS_TLS_KEY = "${local.tls_dir}/key.pem"' in env
    dockerfile = (INFRA / "Dockerfile").read_text(encoding="utf-8")
    assert "infra/write_tls_files.py /usr/local/lib/mailbus/write_tls_files.py" in dockerfile
