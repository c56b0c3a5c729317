from __future__ import annotations

import pytest

from mailbus.errors import ConfigError
from mailbus.settings import Settings, markdown_table, variables


def test_defaults_match_the_design_table() -> None:
    settings = Settings.from_env({}, env_file=None)
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.store == "redis"
    assert (settings.host, settings.port) == ("0.0.0.0", 2525)
    assert settings.queue == "mailbus"
    assert settings.max_message_size == 26_214_400
    assert settings.max_recipients == 100
    assert settings.timeout == 300
    assert (settings.max_connections, settings.max_connections_per_ip) == (1000, 20)
    assert settings.metrics_port is None and settings.handlers is None
    assert settings.domains == ()


def test_every_problem_is_reported_at_once() -> None:
    env = {"MAILBUS_PORT": "http", "MAILBUS_STORE": "ftp://x", "MAILBUS_MAX_RECIPIENTS": "0"}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, env_file=None, role="listen")
    text = str(caught.value)
    assert len(caught.value.problems) == 4
    for name in ("MAILBUS_PORT", "MAILBUS_STORE", "MAILBUS_MAX_RECIPIENTS", "MAILBUS_DOMAINS"):
        assert name in text
    assert "refuses to accept mail for every domain" in text


def test_a_watermark_share_must_be_a_fraction() -> None:
    env = {"MAILBUS_REDIS_MEMORY_HIGH_WATERMARK": "80"}
    with pytest.raises(ConfigError, match="MAILBUS_REDIS_MEMORY_HIGH_WATERMARK.*between 0 and 1"):
        Settings.from_env(env, env_file=None)
    env = {"MAILBUS_REDIS_MEMORY_HIGH_WATERMARK": "0.9"}
    assert Settings.from_env(env, env_file=None).redis_memory_high_watermark == 0.9


def test_roles_require_what_they_cannot_run_without() -> None:
    with pytest.raises(ConfigError, match="MAILBUS_HANDLERS is not set"):
        Settings.from_env({}, env_file=None, role="worker")
    settings = Settings.from_env(
        {"MAILBUS_HANDLERS": "app.mail:router"}, env_file=None, role="worker"
    )
    assert settings.handlers == "app.mail:router"


def test_parsing_of_lists_and_urls() -> None:
    env = {
        "MAILBUS_DOMAINS": "Example.COM, *.example.org ,",
        "MAILBUS_STORE": "s3://bucket/prefix",
        "MAILBUS_RETRY_BACKOFF": "0,5",
        "MAILBUS_METRICS_PORT": "9100",
    }
    settings = Settings.from_env(env, env_file=None)
    assert settings.domains == ("example.com", "*.example.org")
    assert settings.store == "s3://bucket/prefix"
    assert settings.retry_backoff == (0, 5)
    assert settings.metrics_port == 9100
    with pytest.raises(ConfigError, match="MAILBUS_HANDLERS"):
        Settings.from_env({"MAILBUS_HANDLERS": "no-colon"}, env_file=None)
    with pytest.raises(ConfigError, match="MAILBUS_TLS_CERT and MAILBUS_TLS_KEY"):
        Settings.from_env({"MAILBUS_TLS_CERT": "/c.pem"}, env_file=None)


def test_dotenv_is_read_and_the_environment_wins(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MAILBUS_QUEUE=from-file\nMAILBUS_PORT=2600\n")
    settings = Settings.from_env({"MAILBUS_PORT": "2700"}, env_file=env_file)
    assert (settings.queue, settings.port) == ("from-file", 2700)


def test_flags_override_and_settings_are_frozen() -> None:
    settings = Settings.from_env({}, env_file=None).replace(port=2626, host=None)
    assert (settings.port, settings.host) == (2626, "0.0.0.0")
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_the_readme_configuration_table_is_the_generated_one_verbatim() -> None:
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text().splitlines()
    generated = markdown_table().splitlines()
    start = readme.index(generated[0])
    shown = readme[start : start + len(generated) + 1]
    for line, expected in zip(shown, generated, strict=False):
        assert line == expected, f"README row differs; run `mailbus config --markdown`:\n{line}"
    assert not shown[-1].startswith("|"), f"README has a row the settings lack: {shown[-1]}"


def test_the_table_shows_defaults_as_written_in_the_environment() -> None:
    rows = {name: shown for name, shown, _ in variables()}
    assert rows["MAILBUS_HOST"] == "`0.0.0.0`"
    assert rows["MAILBUS_TIMEOUT"] == "`300`"  # a float default shown as the user would write it
    assert rows["MAILBUS_ALLOW_ADDRESS_LITERALS"] == "`false`"
    assert rows["MAILBUS_TLS_CERT"] == "—"
    assert rows["MAILBUS_DOMAINS"].startswith("— (`listen` refuses")


def test_store_and_redis_wait_are_parsed_once_into_value_objects() -> None:
    settings = Settings.from_env(
        {"MAILBUS_STORE": "s3://mail-bucket/in/box", "MAILBUS_REDIS_WAIT": "aof+2"}, env_file=None
    )
    store, wait = settings.store, settings.redis_wait
    assert (store.kind, store.bucket, store.prefix) == ("s3", "mail-bucket", "in/box")
    assert store == "s3://mail-bucket/in/box"  # still the text the user wrote
    assert (wait.aof, wait.replicas, bool(wait)) == (True, 2, True)
    assert not Settings().redis_wait and Settings().store.kind == "redis"


def test_settings_built_in_code_get_the_same_value_objects() -> None:
    settings = Settings(store="file:///var/mail", redis_wait="1")  # type: ignore[arg-type]
    assert (settings.store.kind, settings.store.path) == ("file", "/var/mail")
    assert (settings.redis_wait.aof, settings.redis_wait.replicas) == (False, 1)
    assert settings.replace(store="redis").store.kind == "redis"
