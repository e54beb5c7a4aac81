"""Property-based run of the published OpenAPI description (schemathesis): every operation gets
a bounded number of generated requests from an authenticated administrator, and no answer may be
a server error or stray from the description (ACC-3: the published description is the truth).

The number of requests follows how much an operation's input can vary, because generating a
request costs about as much as serving it: 10 for operations with a JSON body (nested strings,
numbers and lists), 6 for those with query parameters beyond paging (dates, filters, enums), 2
for those whose only inputs are path ids and paging (every further random id meets the same 404,
every further page the same empty list).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from metra.api import create_app
from metra.security.roles import Role

from .conftest import World, settings_for

PAGING = frozenset({"limit", "offset"})
EXCLUDED = [schemathesis.checks.positive_data_acceptance]


def tier(ctx: Any) -> str:
    """`body`, `query` or `ids`: what an operation takes (its raw definition; parameters are
    not resolved yet when schemathesis filters)."""
    raw: dict[str, Any] = ctx.operation.definition.raw
    if "requestBody" in raw:
        return "body"
    query = [p for p in raw.get("parameters", []) if p.get("in") == "query"]
    return "query" if any(p.get("name") not in PAGING for p in query) else "ids"


@pytest.fixture(scope="module")
def api_schema(world: World) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings_for(world)))
    # Bounded: the fuzzing phase at `max_examples` per operation (the coverage phase would add
    # hundreds of boundary cases per operation, minutes of run time on two cores).
    loaded.config.phases.update(phases=["examples", "fuzzing"])
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")
BOUNDED = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}


def check(case: schemathesis.Case, world: World) -> None:
    """ACC-3: no 500 and an answer as described. `positive_data_acceptance` is left out: a
    request valid by the schema may still break a rule the schema cannot state (start before
    end, a party or a validated day that must exist), and the API rightly answers 422 / 404."""
    case.call_and_validate(headers=world.headers(Role.ADMINISTRATOR), excluded_checks=EXCLUDED)


@schema.include(lambda ctx: tier(ctx) == "body").parametrize()
@settings(max_examples=10, **BOUNDED)
def test_acc3_operations_with_a_body(case: schemathesis.Case, world: World) -> None:
    """ACC-3: operations taking a JSON body, 10 generated requests each."""
    check(case, world)


@schema.include(lambda ctx: tier(ctx) == "query").parametrize()
@settings(max_examples=6, **BOUNDED)
def test_acc3_operations_with_query_parameters(case: schemathesis.Case, world: World) -> None:
    """ACC-3: operations taking dates, filters or enums in the query, 6 requests each."""
    check(case, world)


@schema.include(lambda ctx: tier(ctx) == "ids").parametrize()
@settings(max_examples=2, **BOUNDED)
def test_acc3_operations_with_ids_and_paging_only(case: schemathesis.Case, world: World) -> None:
    """ACC-3: operations taking only path ids and paging, 2 requests each."""
    check(case, world)
