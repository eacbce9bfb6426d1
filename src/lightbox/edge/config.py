"""Settings of the LightBox service: a TOML file, ``LIGHTBOX_*`` variables and flags.

Precedence, highest first: command-line flags, environment variables
(``LIGHTBOX_HTTP_PORT=8080``, nested with ``__``: ``LIGHTBOX_MQTT__CA_FILE``), the TOML file
given with ``--config``, then the defaults below. Built late (in the command, never at
import time) and validated; an invalid value stops start-up with a message naming it.

These are the *service's* settings (where to listen, which broker, where data lives). What
a user changes at run time (matrix size, driver, brightness cap...) is
:class:`lightbox.protocol.Settings`, kept in the store; ``size`` and ``driver`` here only
seed it on first start, or override it when given explicitly.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from lightbox.protocol.settings import DRIVER_NAMES
from lightbox.protocol.topics import check_device_id


class ConfigError(Exception):
    """The service's configuration is invalid; the message names the setting."""


class EdgeConfig(BaseSettings):
    """Everything the LightBox service needs to start."""

    model_config = SettingsConfigDict(
        env_prefix="LIGHTBOX_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(default=Path("/var/lib/lightbox"), description="SQLite and media.")
    http_host: str = Field(default="0.0.0.0", description="Address of the local API.")
    http_port: int = Field(default=80, ge=0, le=65535)
    device_id: str | None = Field(
        default=None, description="Stable device id; default: generated once and stored."
    )
    name: str | None = Field(default=None, max_length=64, description="Device name (first start).")
    mqtt_url: str | None = Field(
        default=None,
        description="mqtt://[user:pass@]host:port or mqtts://...; none: start an embedded broker.",
    )
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
    mqtt_topic_prefix: str = "lightbox"
    embedded_broker_host: str = "127.0.0.1"
    embedded_broker_port: int = Field(default=1883, ge=0, le=65535)
    driver: Literal["emulator", "terminal", "null", "hub75", "ws281x", "ddp", "e131"] | None = (
        Field(default=None, description="Override the stored driver.")
    )
    size: str | None = Field(default=None, description="Override the matrix size, WxH.")
    fps: int | None = Field(default=None, ge=1, le=240)
    mdns_enabled: bool = Field(default=True, description="Advertise _lightbox._tcp (mDNS).")
    mdns_interfaces: list[str] | None = Field(
        default=None, description="IPv4 addresses to advertise on; none: every interface."
    )
    ble_enabled: bool = Field(default=True, description="Improv Wi-Fi provisioning over BLE.")
    ble_adapter: str = Field(default="hci0", description="BlueZ adapter for provisioning.")
    ble_authorization_timeout_s: float = Field(default=300.0, gt=0, le=3600)
    gpio_button: str | None = Field(
        default=None, description="Authorization button, e.g. 'GPIO17' or 'gpiochip4:17'."
    )
    cloud_url: str | None = Field(
        default=None, description="The LightBox cloud (https://...); none: LAN only."
    )
    cloud_mqtt_ca_file: Path | None = Field(
        default=None, description="CA bundle of the cloud broker (private CA only)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"
    shutdown_timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_upload_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)

    @field_validator("device_id")
    @classmethod
    def _check_device_id(cls, value: str | None) -> str | None:
        return None if value is None else check_device_id(value)

    @field_validator("size")
    @classmethod
    def _check_size(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from lightbox.render.frame import Size

        Size.parse(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file comes from model_config["toml_file"], set by load_config.
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


assert set(DRIVER_NAMES) == {"emulator", "terminal", "null", "hub75", "ws281x", "ddp", "e131"}


def load_config(config_file: Path | None = None, **flags: Any) -> EdgeConfig:
    """Build the config: flags (``None`` values are left out) over env over TOML over defaults."""
    from pydantic import ValidationError

    given = {k: v for k, v in flags.items() if v is not None}
    if config_file is not None:
        try:
            with config_file.open("rb") as fh:
                tomllib.load(fh)  # a syntax error is reported with its line here
        except OSError as err:
            raise ConfigError(f"cannot read config file {config_file}: {err}") from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config file {config_file}: {err}") from err
    cls: type[EdgeConfig] = EdgeConfig
    if config_file is not None:
        cls = type(
            "EdgeConfigFromFile",
            (EdgeConfig,),
            {
                "model_config": SettingsConfigDict(
                    **{**EdgeConfig.model_config, "toml_file": config_file}
                )
            },
        )
    try:
        return cls(**given)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"setting {where!r}: {msg}") from err
