"""Errors of the broker side of the cloud.

::

    BrokerAdminError            provisioning a device on the broker failed
     ├── BrokerCommandFailed    the dynamic security plugin refused a command (.command, .reason)
     └── BrokerUnavailable      the broker could not be reached, refused the admin
                                credentials, or did not answer in time

These are infrastructure failures, not a user's mistake: they are not
:class:`~lightbox.cloud.errors.CloudError`, so the API answers 500 and logs them.
aiomqtt's errors are translated here, at the boundary, with ``raise ... from``.
"""

from __future__ import annotations

__all__ = ["BrokerAdminError", "BrokerCommandFailed", "BrokerUnavailable"]


class BrokerAdminError(Exception):
    """Base: the broker could not provision, rotate or revoke a device's credentials."""


class BrokerCommandFailed(BrokerAdminError):
    """The dynamic security plugin answered a control command with an error."""

    def __init__(self, command: str, reason: str, *, subject: str = "") -> None:
        about = f" for {subject!r}" if subject else ""
        super().__init__(f"broker refused {command}{about}: {reason}")
        self.command = command
        self.reason = reason
        self.subject = subject


class BrokerUnavailable(BrokerAdminError):
    """The broker's control API could not be used (connection, credentials, timeout)."""
