"""The LightBox service that runs on the device (edge)."""
