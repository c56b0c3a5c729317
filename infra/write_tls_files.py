"""Write the STARTTLS certificate and key, handed over as environment variables, to PEM files.

mailbus reads `MAILBUS_TLS_CERT` / `MAILBUS_TLS_KEY` as *file paths* (ssl.load_cert_chain needs
files), while ECS injects Secrets Manager values as *environment variables*. On ECS a short,
non-essential init container from the same image runs this script first: it takes
`MAILBUS_TLS_CERT_PEM` and `MAILBUS_TLS_KEY_PEM` and writes `cert.pem` and `key.pem` into
`MAILBUS_TLS_DIR` (a task volume), and the listener container, which starts only after this
exits 0, mounts that volume read-only and points MAILBUS_TLS_CERT/KEY at the files. The key
therefore never appears in the listener's environment. Standard library only; exits non-zero
with one JSON log line when a value is missing or is not PEM, so the task fails visibly.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FILES = (
    ("MAILBUS_TLS_CERT_PEM", "cert.pem", 0o444, "-----BEGIN CERTIFICATE-----"),
    ("MAILBUS_TLS_KEY_PEM", "key.pem", 0o400, "PRIVATE KEY-----"),
)


def write_pem(directory: Path, name: str, text: str, mode: int) -> Path:
    """Write atomically (temp file + rename) so the listener never sees half a key."""
    target = directory / name
    tmp = directory / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")
    os.chmod(tmp, mode)
    os.replace(tmp, target)
    return target


def main(environ: dict[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    directory = Path(env.get("MAILBUS_TLS_DIR", "/run/mailbus-tls"))
    written = []
    for var, name, mode, marker in FILES:
        text = env.get(var, "").strip()
        if marker not in text:
            print(
                json.dumps(
                    {"event": "tls_init_failed", "variable": var, "reason": "missing or not PEM"}
                ),
                file=sys.stderr,
            )
            return 1
        written.append(str(write_pem(directory, name, text, mode)))
    print(json.dumps({"event": "tls_init_done", "files": written}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
