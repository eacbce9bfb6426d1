"""Wi-Fi and host naming behind a narrow interface (NetworkManager on a real LightBox)."""

from lightbox.edge.wifi.base import (
    AccessPoint,
    WifiBackend,
    WifiConnectError,
    WifiError,
    WifiStatus,
)

__all__ = ["AccessPoint", "WifiBackend", "WifiConnectError", "WifiError", "WifiStatus"]
