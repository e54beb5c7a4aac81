"""The metering store: schema, engines, migrations and one repository module per kind of data.

Repositories are plain functions taking a SQLAlchemy `Connection`, so the caller decides the
transaction: a head-end batch of a whole day for many meters commits once, or not at all.
"""

from metra.store.engine import make_engine, normalise_url
from metra.store.migrate import migrate

__all__ = ["make_engine", "migrate", "normalise_url"]
