"""How a LightBox reaches its MQTT broker: URL, credentials, TLS, timing.

Strict with what users configure: a bad URL, a missing certificate file or a TLS option
given for a plain ``mqtt://`` URL is refused with a message that says what to write instead.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from lightbox.protocol.topics import PREFIX, DeviceTopics

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883
_SCHEMES = {"mqtt": False, "mqtts": True}


class MqttUrl(NamedTuple):
    """The parts of ``mqtt[s]://[user:pass@]host[:port]``."""

    tls: bool
    host: str
    port: int
    username: str | None
    password: str | None


def parse_mqtt_url(url: str) -> MqttUrl:
    """Split a broker URL; raise :class:`ValueError` saying what a valid one looks like.

    >>> parse_mqtt_url("mqtts://dev:s%40cret@broker.example:8884")
    MqttUrl(tls=True, host='broker.example', port=8884, username='dev', password='s@cret')
    """
    shape = "use mqtt://[user:pass@]host[:port] or mqtts://[user:pass@]host[:port]"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as err:
        raise ValueError(f"MQTT URL {url!r} is not valid ({err}): {shape}") from err
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        got = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(f"MQTT URL {url!r} has {got}: {shape}")
    if not parts.hostname:
        raise ValueError(f"MQTT URL {url!r} has no host: {shape}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"MQTT URL {url!r} must not have a path, query or fragment: {shape}")
    tls = _SCHEMES[scheme]
    if port is None:
        port = DEFAULT_TLS_PORT if tls else DEFAULT_PORT
    if port == 0:
        raise ValueError(f"MQTT URL {url!r}: port 0 is not a broker port: {shape}")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return MqttUrl(tls, parts.hostname, port, username or None, password)


def _without_credentials(parsed: MqttUrl) -> str:
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{'mqtts' if parsed.tls else 'mqtt'}://{host}:{parsed.port}"


class MqttSettings(BaseModel):
    """Connection settings of the device's MQTT link.

    Credentials given in the URL move to ``username``/``password``; ``url`` keeps only
    ``scheme://host:port`` so that it is safe to log.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="mqtt://[user:pass@]host[:port] or mqtts://...")
    username: str | None = Field(default=None, description="Or in the URL.")
    password: SecretStr | None = Field(default=None, description="Or in the URL; never logged.")
    ca_file: Path | None = Field(
        default=None, description="CA bundle to verify the broker (mqtts); default: system CAs."
    )
    cert_file: Path | None = Field(default=None, description="Client certificate (mqtts).")
    key_file: Path | None = Field(default=None, description="Client private key (mqtts).")
    insecure: bool = Field(
        default=False,
        description="DANGEROUS: do not check that the broker's certificate names its host; "
        "anyone on the path can impersonate the broker. For testing only.",
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="MQTT client id; default `lightbox-<device_id>`. Unique per broker.",
    )
    keepalive: int = Field(
        default=30,
        ge=5,
        le=65535,
        description="Seconds between pings; the will fires after 1.5x of silence.",
    )
    topic_prefix: str = Field(default=PREFIX, description="Topics are `<prefix>/<device_id>/...`.")
    reconnect_min_s: float = Field(default=0.5, gt=0, description="First reconnect delay, s.")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="Longest reconnect delay, s.")

    @model_validator(mode="before")
    @classmethod
    def _split_url(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            return data
        parsed = parse_mqtt_url(data["url"])
        data = dict(data)
        data["url"] = _without_credentials(parsed)
        for key, value in (("username", parsed.username), ("password", parsed.password)):
            if value is None:
                continue
            given = data.get(key)
            if isinstance(given, SecretStr):
                given = given.get_secret_value()
            if given is not None and given != value:
                raise ValueError(f"{key} is given both in the URL and as a setting: keep one")
            data[key] = value
        return data

    @model_validator(mode="after")
    def _check(self) -> MqttSettings:
        DeviceTopics("x", self.topic_prefix)  # validates the prefix
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not be larger than reconnect_max_s")
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        tls_only = [
            name for name in ("ca_file", "cert_file", "key_file", "insecure") if getattr(self, name)
        ]
        if tls_only and not self.tls:
            raise ValueError(f"{', '.join(tls_only)} only apply to TLS: use an mqtts:// URL")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file (the client certificate)")
        for name in ("ca_file", "cert_file", "key_file"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {str(path)!r} does not exist or is not a file")
        return self

    @property
    def parsed(self) -> MqttUrl:
        return parse_mqtt_url(self.url)

    @property
    def tls(self) -> bool:
        return self.parsed.tls

    @property
    def host(self) -> str:
        return self.parsed.host

    @property
    def port(self) -> int:
        return self.parsed.port

    def client_id_for(self, device_id: str) -> str:
        """The MQTT client id: ``client_id`` or ``lightbox-<device_id>``."""
        return self.client_id or f"lightbox-{device_id}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A TLS context for ``mqtts://`` (None for ``mqtt://``); reads the files given."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None:
                context.load_cert_chain(
                    str(self.cert_file), str(self.key_file) if self.key_file else None
                )
        except (OSError, ssl.SSLError) as err:
            raise ValueError(f"cannot load the MQTT TLS files: {err}") from err
        if self.insecure:
            context.check_hostname = False
        return context
