"""Over-the-air updates on the LightBox: A/B slots, launcher, update agent.

See docs/updates.md for the install layout on a Raspberry Pi and what happens on power
loss at each step.
"""

from lightbox.edge.update.agent import TRANSITIONS, UpdateAgent, UpdateOffer, UpdateState
from lightbox.edge.update.health import HealthResult, HttpHealthCheck
from lightbox.edge.update.outbox import Outbox, UpdateStatus
from lightbox.edge.update.slots import SlotLayout

__all__ = [
    "TRANSITIONS",
    "HealthResult",
    "HttpHealthCheck",
    "Outbox",
    "SlotLayout",
    "UpdateAgent",
    "UpdateOffer",
    "UpdateState",
    "UpdateStatus",
]
