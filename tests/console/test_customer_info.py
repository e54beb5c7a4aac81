"""ACC-7 (S1 19): the consumer's "Your meter and your data" page shows their own meter, its
functions, the services and how their personal data are processed, including who received them;
another consumer's meter and releases are never shown."""

from __future__ import annotations

from datetime import date

import pytest
from api.conftest import World
from fastapi.testclient import TestClient

from metra.profiles import load_profile
from metra.profiles.errors import ProfileError
from metra.profiles.loader import load_profile_file
from metra.security import audit
from metra.security.roles import Role
from metra.store.masterdata import Entity, as_of

from .conftest import as_role


def _serial(world: World, key: str) -> str:
    with world.engine.connect() as conn:
        found = as_of(conn, Entity.METER, world.meters[key], date.today())
        assert found is not None
        return str(found.attributes["serial"])


def test_acc7_consumer_sees_own_meter_functions_services_and_processing(
    client: TestClient, world: World
) -> None:
    """ACC-7: own meter with its functions, the services, retention from the profile, the
    controller contact line and only the consumer's own third-party releases."""
    with world.engine.begin() as conn:
        for key in ("a", "b"):
            audit.record(
                conn,
                f"retailer-of-{key}",
                "export.api.readings",
                ("export", f"retailer-of-{key}"),
                None,
                {"subject": str(world.meters[key])},
                "10.0.0.1",
            )
    as_role(client, world, Role.CONSUMER)
    assert 'href="/console/my/info"' in client.get("/console/my").text
    page = client.get("/console/my/info")
    assert page.status_code == 200
    text = page.text
    assert _serial(world, "a") in text and str(world.meters["a"]) in text
    assert _serial(world, "b") not in text and str(world.meters["b"]) not in text
    profile = load_profile("pl")
    # The consumer reads Polish (the profile's language).
    assert f"{profile.metering.interval_minutes} minut" in text
    assert "Zdalne odłączenie" in text and "Port klienta (HAN)" in text
    assert "Pobieranie Twoich danych w formacie CSV." in text
    r = profile.retention
    assert f"pomiary {r.measurements_years} lat" in text
    assert f"najwyżej {r.customer_data_max_years} lat" in text
    assert "retailer-of-a" in text and "retailer-of-b" not in text
    assert "nie opublikowano; zapytaj operatora systemu." in text


def test_acc7_operator_contact_is_validated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """ACC-7: the controller's contact in a profile must be an e-mail address or https URL."""
    from importlib.resources import files

    base = (files("metra.profiles") / "data" / "pl.toml").read_text("utf-8")
    good = tmp_path / "good.toml"
    good.write_text(base.replace('contact = ""', 'contact = "dpo@operator.example"'))
    assert load_profile_file(good).operator.contact == "dpo@operator.example"
    bad = tmp_path / "bad.toml"
    bad.write_text(base.replace('contact = ""', 'contact = "call us"'))
    with pytest.raises(ProfileError, match=r"operator\.contact"):
        load_profile_file(bad)
