"""The REST routes, one module per resource; every write is a command to the service."""
