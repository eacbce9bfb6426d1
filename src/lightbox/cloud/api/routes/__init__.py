"""The cloud API's routes, one module per area."""
