"""The cloud broker side: per-device credentials and ACLs, presence, the instance's connection.

::

    config.py      mosquitto.conf and the initial dynamic-security.json (admin, cloud service)
    dynsec.py      DynsecAdmin: BrokerAdmin over Mosquitto's dynamic security control API
    connection.py  BrokerConnection: one instance's MQTT 5 connection, reconnecting
    presence.py    PresenceWatcher: online/offline from lightbox/+/status (last wills)
    service.py     CloudBroker: all of the above plus the relay, started and stopped together
    local.py       LocalMosquitto: a Mosquitto of our own with dynsec (tests, demo)
    errors.py      BrokerAdminError and its subclasses

The relay itself is :mod:`lightbox.cloud.relay`. Set-up of a production broker:
``docs/deploy-cloud.md``.
"""

from lightbox.cloud.broker.connection import BrokerConnection, NotConnected, shared
from lightbox.cloud.broker.dynsec import DynsecAdmin
from lightbox.cloud.broker.errors import BrokerAdminError, BrokerCommandFailed, BrokerUnavailable
from lightbox.cloud.broker.presence import PresenceCallback, PresenceWatcher
from lightbox.cloud.broker.service import CloudBroker

__all__ = [
    "BrokerAdminError",
    "BrokerCommandFailed",
    "BrokerConnection",
    "BrokerUnavailable",
    "CloudBroker",
    "DynsecAdmin",
    "NotConnected",
    "PresenceCallback",
    "PresenceWatcher",
    "shared",
]
