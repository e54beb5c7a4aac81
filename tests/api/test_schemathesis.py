"""Property-based run of the published OpenAPI description (schemathesis): every operation gets
a bounded number of generated requests from an authenticated administrator, and no answer may be
a server error or stray from the description (ACC-3: the published description is the truth)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from metra.api import create_app
from metra.security.roles import Role

from .conftest import World, settings_for


@pytest.fixture(scope="module")
def api_schema(world: World) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings_for(world)))
    # Bounded: the fuzzing phase at `max_examples` per operation (the coverage phase would add
    # hundreds of boundary cases per operation, minutes of run time on two cores).
    loaded.config.phases.update(phases=["examples", "fuzzing"])
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_acc3_no_server_errors_and_answers_match_the_description(
    case: schemathesis.Case, world: World
) -> None:
    """ACC-3: generated requests never cause a 500 and answers conform to the OpenAPI spec.

    `positive_data_acceptance` is left out: a request valid by the schema may still break a rule
    the schema cannot state (start before end, a party or a validated day that must exist), and
    the API rightly answers 422 / 404 there."""
    case.call_and_validate(
        headers=world.headers(Role.ADMINISTRATOR),
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
