"""The LightBox cloud service: accounts, the device registry and the remote-control relay.

Layout::

    config.py      CloudConfig (LIGHTBOX_CLOUD_* variables and `lightbox cloud run` flags)
    errors.py      the cloud's exception tree
    interfaces.py  BrokerAdmin and Relay: what the broker side plugs in
    memory.py      in-memory BrokerAdmin and Relay (tests, a single dev instance)
    db/            SQLAlchemy models, engine and sessions, Alembic migrations
    security.py    password hashing, access and refresh tokens, secrets
    ratelimit.py   sliding-window limits on Redis (or in memory for one instance)
    cache.py       Redis: key prefix, presence, pub/sub between instances
    services.py    CloudServices: everything a running instance holds
    accounts.py    sign-up, log-in, refresh, log-out, password change
    devices.py     registration, claim codes, claiming, ownership, presence
    api/           the FastAPI app (routes under /api/v1)
"""
