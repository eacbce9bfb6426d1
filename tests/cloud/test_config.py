"""CloudConfig: defaults, validation, the required secret, and `lightbox cloud run` flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lightbox.cli.cloud import cloud_app
from lightbox.cloud.config import ConfigError, dev_secret, load_config

SECRET = "s" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LIGHTBOX_CLOUD_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    config = load_config(jwt_secret=SECRET)
    assert config.http_port == 8000
    assert config.database_url == "sqlite+aiosqlite:///./lightbox-cloud.db"
    assert config.redis_url is None
    assert config.access_token_ttl_s == 900
    assert config.refresh_token_ttl_s == 30 * 24 * 3600
    assert config.claim_code_ttl_s == 600
    assert config.instance_id.startswith("cloud-")
    assert load_config(jwt_secret=SECRET).instance_id != config.instance_id


@pytest.mark.parametrize("secret", [None, "short", "x" * 31])
def test_secret_is_required(secret: str | None) -> None:
    with pytest.raises(ConfigError, match="jwt_secret") as info:
        load_config(jwt_secret=secret)
    assert "32" in str(info.value)


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIGHTBOX_CLOUD_JWT_SECRET", SECRET)
    monkeypatch.setenv("LIGHTBOX_CLOUD_HTTP_PORT", "9000")
    monkeypatch.setenv("LIGHTBOX_CLOUD_REDIS_URL", "redis://r:6379/1")
    config = load_config(http_port=9001)
    assert config.http_port == 9001  # flags win
    assert config.redis_url == "redis://r:6379/1"
    assert config.jwt_secret is not None and config.jwt_secret.get_secret_value() == SECRET
    assert SECRET not in repr(config)


def test_device_mqtt_url() -> None:
    config = load_config(jwt_secret=SECRET, mqtt_url="mqtts://admin:pw@broker.example:8883")
    assert config.devices_mqtt_url == "mqtts://broker.example:8883"
    config = load_config(
        jwt_secret=SECRET, mqtt_url="mqtt://10.0.0.2:1883", device_mqtt_url="mqtts://x.example"
    )
    assert config.devices_mqtt_url == "mqtts://x.example"
    assert load_config(jwt_secret=SECRET).devices_mqtt_url is None


def test_storage() -> None:
    s3 = load_config(jwt_secret=SECRET, storage_url="s3://releases/lightbox", s3_region="eu-1")
    assert s3.storage_is_s3 and s3.storage_dir is None
    local = load_config(jwt_secret=SECRET, storage_url="/srv/releases")
    assert local.storage_dir == Path("/srv/releases")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("database_url", "mysql://x/y"),
        ("database_url", "postgresql://x/y"),
        ("redis_url", "http://x"),
        ("mqtt_url", "http://broker"),
        ("storage_url", "s3://"),
        ("storage_url", "ftp://x"),
        ("http_port", 70000),
        ("public_url", "ftp://x"),
        ("mqtt_admin_username", "admin"),
    ],
)
def test_invalid(setting: str, value: object) -> None:
    with pytest.raises(ConfigError):
        load_config(jwt_secret=SECRET, **{setting: value})


def test_dev_secret(tmp_path: Path) -> None:
    first = dev_secret(tmp_path / "data")
    assert len(first.get_secret_value()) >= 32
    assert dev_secret(tmp_path / "data").get_secret_value() == first.get_secret_value()
    assert (tmp_path / "data" / "jwt-secret").stat().st_mode & 0o077 == 0


def test_run_flags() -> None:
    result = CliRunner().invoke(cloud_app, ["run", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for flag in (
        "--http-port",
        "--database-url",
        "--redis-url",
        "--mqtt-url",
        "--storage-url",
        "--dev",
    ):
        assert flag in result.output


def test_run_refuses_to_start_without_a_secret() -> None:
    result = CliRunner().invoke(cloud_app, ["run", "--http-port", "0"])
    assert result.exit_code == 2
    assert "jwt_secret" in result.output


def test_run_refuses_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIGHTBOX_CLOUD_JWT_SECRET", SECRET)
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    result = CliRunner().invoke(cloud_app, ["run", "--database-url", url, "--http-port", "0"])
    assert result.exit_code == 2
    assert "lightbox cloud migrate" in result.output
