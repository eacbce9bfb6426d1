"""MqttSettings and parse_mqtt_url: strict with what users configure."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from lightbox.edge.mqtt import MqttSettings, MqttUrl, parse_mqtt_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker", MqttUrl(False, "broker", 1883, None, None)),
        ("mqtts://broker", MqttUrl(True, "broker", 8883, None, None)),
        ("MQTT://broker:1884/", MqttUrl(False, "broker", 1884, None, None)),
        ("mqtt://u:p%40ss@10.0.0.2:2000", MqttUrl(False, "10.0.0.2", 2000, "u", "p@ss")),
        ("mqtts://dev@[::1]:8884", MqttUrl(True, "::1", 8884, "dev", None)),
    ],
)
def test_parse_mqtt_url(url: str, expected: MqttUrl) -> None:
    assert parse_mqtt_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://broker", "scheme 'http'"),
        ("tcp://broker:1883", "scheme 'tcp'"),
        ("broker:1883", "scheme 'broker'"),
        ("//broker", "no scheme"),
        ("mqtt://", "no host"),
        ("mqtt://broker:99999", "not valid"),
        ("mqtt://broker:0", "port 0"),
        ("mqtt://broker/topic", "path"),
        ("mqtt://broker?x=1", "path, query"),
    ],
)
def test_parse_mqtt_url_refuses(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="use mqtt://") as info:
        parse_mqtt_url(url)
    assert message in str(info.value)


def test_credentials_move_out_of_the_url() -> None:
    settings = MqttSettings(url="mqtt://dev:secret@broker")
    assert settings.url == "mqtt://broker:1883"
    assert settings.username == "dev"
    assert settings.password == SecretStr("secret")
    assert "secret" not in repr(settings)
    assert (settings.tls, settings.host, settings.port) == (False, "broker", 1883)


def test_defaults() -> None:
    settings = MqttSettings(url="mqtt://broker")
    assert settings.client_id_for("kitchen") == "lightbox-kitchen"
    assert settings.keepalive == 30
    assert settings.topic_prefix == "lightbox"
    assert (settings.reconnect_min_s, settings.reconnect_max_s) == (0.5, 30.0)
    assert settings.ssl_context() is None
    assert MqttSettings(url="mqtt://b", client_id="mine").client_id_for("x") == "mine"


def test_same_credentials_twice_is_fine_different_is_not() -> None:
    assert MqttSettings(url="mqtt://u:p@b", username="u", password="p").username == "u"
    with pytest.raises(ValidationError, match="both in the URL and as a setting"):
        MqttSettings(url="mqtt://u:p@b", username="other")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"url": "ftp://b"}, "scheme 'ftp'"),
        ({"url": "mqtt://b", "insecure": True}, "only apply to TLS"),
        ({"url": "mqtt://b", "ca_file": "/etc/hostname"}, "only apply to TLS"),
        ({"url": "mqtts://b", "key_file": "/etc/hostname"}, "key_file needs cert_file"),
        ({"url": "mqtts://b", "ca_file": "/nonexistent/ca.pem"}, "does not exist"),
        ({"url": "mqtt://b", "password": "p"}, "needs a username"),
        ({"url": "mqtt://b", "topic_prefix": "a/#"}, "topic prefix"),
        ({"url": "mqtt://b", "topic_prefix": "a/"}, "topic prefix"),
        ({"url": "mqtt://b", "reconnect_min_s": 5, "reconnect_max_s": 1}, "reconnect_min_s"),
        ({"url": "mqtt://b", "keepalive": 0}, "keepalive"),
        ({"url": "mqtt://b", "surprise": 1}, "surprise"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MqttSettings.model_validate(values)


def test_tls_context(tmp_path: Path) -> None:
    strict = MqttSettings(url="mqtts://broker").ssl_context()
    assert isinstance(strict, ssl.SSLContext)
    assert strict.check_hostname
    assert strict.verify_mode == ssl.CERT_REQUIRED
    loose = MqttSettings(url="mqtts://broker", insecure=True).ssl_context()
    assert loose is not None
    assert not loose.check_hostname
    assert loose.verify_mode == ssl.CERT_REQUIRED  # still checks the chain
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("not a certificate")
    with pytest.raises(ValueError, match="cannot load the MQTT TLS files"):
        MqttSettings(url="mqtts://broker", ca_file=bad_ca).ssl_context()
