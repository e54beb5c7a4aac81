"""Migrations equal the schema, engine settings, durability and retention (STO-1, REL-3, DQ-5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from metra.store import intervals, make_engine, migrate, normalise_url
from metra.store.errors import StoreError
from metra.store.events import Severity, record_system_event
from metra.store.intervals import DayReading, Origin, status_code
from metra.store.masterdata import Entity, as_of, change, create, history
from metra.store.migrate import alembic_config
from metra.store.retention import DataClass, purge
from metra.store.schema import metadata

NOW = datetime(2030, 1, 1, tzinfo=UTC)
REMOTE = status_code(Origin.REMOTE)


def test_migration_result_equals_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert diff == []
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_migrate_is_idempotent(backend_url: str) -> None:
    migrate(backend_url)  # already at head: nothing to do, nothing breaks


def test_url_normalisation() -> None:
    assert normalise_url("/var/lib/metra.db").render_as_string() == (
        "sqlite+pysqlite:////var/lib/metra.db"
    )
    pg = normalise_url("postgresql://postgres@127.0.0.1:5432/metra")
    assert pg.drivername == "postgresql+psycopg"
    with pytest.raises(StoreError):
        normalise_url("mysql://x/y")


def test_rel3_sqlite_is_durable_wal_with_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    migrate(path)
    engine = make_engine(path)
    with engine.begin() as conn:
        pragmas = {
            name: conn.execute(text(f"PRAGMA {name}")).scalar_one()
            for name in ("journal_mode", "synchronous", "foreign_keys")
        }
        meter = create(conn, Entity.METER, {"serial": "R"}, effective=date(2024, 1, 1))
        intervals.write_day(
            conn,
            DayReading(meter, "ch", date(2024, 1, 1), [1.0] * 24, [REMOTE] * 24, NOW, 3600),
        )
    engine.dispose()  # a restart: a new engine must see every committed row
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}
    reopened = make_engine(path)
    with reopened.connect() as conn:
        assert intervals.read_day(conn, meter, "ch", date(2024, 1, 1)) is not None
    reopened.dispose()


def _day(conn: Connection, meter: UUID, day: date) -> None:
    intervals.write_day(conn, DayReading(meter, "ch", day, [1.0] * 24, [REMOTE] * 24, NOW, 3600))


def test_sto1_retention_deletes_only_past_the_horizon_and_archives_first(
    conn: Connection, meter_id: UUID
) -> None:
    old, kept = date(2024, 12, 1), date(2025, 6, 1)
    _day(conn, meter_id, old)
    _day(conn, meter_id, kept)
    for when in (datetime(2020, 1, 1, tzinfo=UTC), NOW):
        record_system_event(
            conn, occurred_at=when, severity=Severity.INFO, source="t", code="c", message="m"
        )
    archived: list[tuple[str, list[dict[str, Any]]]] = []
    removed = purge(
        conn,
        {
            DataClass.INTERVALS: timedelta(days=5 * 365),
            DataClass.SYSTEM_EVENTS: timedelta(days=365),
        },
        now=NOW,
        archive=lambda table, rows: archived.append((table, list(rows))),
    )
    assert removed == {"interval_day": 1, "system_event": 1}
    assert [(t, len(r)) for t, r in archived] == [("interval_day", 1), ("system_event", 1)]
    assert intervals.read_day(conn, meter_id, "ch", old) is None
    assert intervals.read_day(conn, meter_id, "ch", kept) is not None


def test_sto3_retention_keeps_the_master_data_version_valid_at_the_horizon(
    conn: Connection,
) -> None:
    meter = create(conn, Entity.METER, {"serial": "H", "firmware": "1"}, effective=date(2020, 1, 1))
    change(conn, Entity.METER, meter, {"firmware": "2"}, effective=date(2021, 1, 1))
    change(conn, Entity.METER, meter, {"firmware": "3"}, effective=date(2028, 1, 1))
    purge(conn, {DataClass.MASTER_DATA_HISTORY: timedelta(days=3 * 365)}, now=NOW)
    assert [v.attributes["firmware"] for v in history(conn, Entity.METER, meter)] == ["2", "3"]
    valid = as_of(conn, Entity.METER, meter, date(2027, 1, 2))
    assert valid is not None and valid.attributes["firmware"] == "2"
