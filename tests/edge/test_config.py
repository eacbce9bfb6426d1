"""Service settings: TOML < environment < flags, validated with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightbox.edge.config import ConfigError, load_config

ROOT = Path(__file__).parents[2]


def test_example_settings_file_loads() -> None:
    config = load_config(ROOT / "deploy" / "lightbox.toml")
    assert config.data_dir == Path("/var/lib/lightbox")
    assert config.mqtt_url == "mqtt://127.0.0.1:1883"
    assert config.log_format == "json"


def test_precedence_flags_over_env_over_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "lb.toml"
    toml.write_text('http_port = 9000\nsize = "32x16"\ndevice_id = "from-file"\n')
    assert load_config(toml).http_port == 9000
    monkeypatch.setenv("LIGHTBOX_HTTP_PORT", "9100")
    config = load_config(toml)
    assert (config.http_port, config.size, config.device_id) == (9100, "32x16", "from-file")
    assert load_config(toml, http_port=9200, size=None).http_port == 9200


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"size": "64by32"}, "setting 'size': size '64by32' is not WxH"),
        ({"http_port": 70000}, "setting 'http_port'"),
        ({"device_id": "a/b"}, "it is part of MQTT topics"),
        ({"driver": "laser"}, "setting 'driver'"),
    ],
)
def test_invalid_values_name_the_setting(flags: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, **flags)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    toml = tmp_path / "lb.toml"
    toml.write_text("htpp_port = 1\n")
    with pytest.raises(ConfigError, match="htpp_port"):
        load_config(toml)


def test_toml_syntax_error_is_reported(tmp_path: Path) -> None:
    toml = tmp_path / "lb.toml"
    toml.write_text("http_port = = 1\n")
    with pytest.raises(ConfigError, match=r"lb\.toml"):
        load_config(toml)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")
