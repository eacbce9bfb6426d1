"""MQTT control of a LightBox: the device's link to a broker, and an embedded broker.

Topics, payloads and behaviour are described in ``docs/mqtt.md``.
"""

from lightbox.edge.mqtt.link import Backoff, CommandHandler, MqttLink
from lightbox.edge.mqtt.settings import MqttSettings, MqttUrl, parse_mqtt_url

__all__ = ["Backoff", "CommandHandler", "MqttLink", "MqttSettings", "MqttUrl", "parse_mqtt_url"]
