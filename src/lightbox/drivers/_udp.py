"""A connected UDP socket shared by the network output drivers."""

from __future__ import annotations

import socket

from lightbox.drivers.base import DriverIOError

__all__ = ["UdpSender"]


class UdpSender:
    """Sends datagrams to one ``(host, port)``; errors become :class:`DriverIOError`."""

    def __init__(self, host: str, port: int, *, multicast_ttl: int | None = None) -> None:
        self.host = host
        self.port = port
        self._multicast_ttl = multicast_ttl
        self._sock: socket.socket | None = None

    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, kind, proto, _, address = infos[0]
            sock = socket.socket(family, kind, proto)
        except (OSError, UnicodeError) as err:  # UnicodeError: a label over 63 characters
            raise DriverIOError(f"cannot reach {self.host}:{self.port}: {err}") from err
        try:
            if self._multicast_ttl is not None:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, self._multicast_ttl)
            sock.connect(address)
        except OSError as err:
            sock.close()
            raise DriverIOError(f"cannot send to {self.host}:{self.port}: {err}") from err
        self._sock = sock

    def send(self, packets: list[bytes]) -> None:
        if self._sock is None:
            raise DriverIOError(f"the sender to {self.host}:{self.port} is not open")
        try:
            for packet in packets:
                self._sock.send(packet)
        except ConnectionRefusedError:
            pass  # an ICMP "port unreachable" from an earlier datagram: UDP is fire-and-forget
        except OSError as err:
            raise DriverIOError(f"sending to {self.host}:{self.port} failed: {err}") from err

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
