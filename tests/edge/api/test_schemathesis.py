"""Property-based requests generated from /openapi.json: the API never answers with a 5xx.

Bounded: the examples and fuzzing phases with a few examples per operation (schemathesis's
coverage phase alone would send thousands of requests), against a real LightBox running in
a thread of its own. Settings writes are left out here (random drivers would open UDP
sockets to random hosts, and 1024x1024 matrices at 240 fps would slow the run down); their
errors are tested in test_settings_tokens.py.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from lightbox.edge.api import create_app
from tests.edge.api.conftest import Box

EXAMPLES_PER_OPERATION = 12

CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "generation": {"max-examples": EXAMPLES_PER_OPERATION},
        "seed": 20240601,
    }
)

# The schema does not depend on the service: it comes from the app itself. (The lazy
# fixture loader, schemathesis.pytest.from_fixture, fails on pytest 9: '_nodeid'.)
schema = schemathesis.openapi.from_dict(
    create_app(service=None).openapi(),
    config=CONFIG,  # type: ignore[arg-type]
).exclude(path="/api/v1/settings", method=["PUT", "PATCH"])


@pytest.mark.schemathesis
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case: schemathesis.Case, threaded_box: Box) -> None:
    case.call_and_validate(
        base_url=threaded_box.url,
        headers=threaded_box.headers(),
        checks=[not_a_server_error],
        timeout=20,
    )
