"""The REST API face (FastAPI): `create_app(ApiSettings(...))`; see docs/api.md."""

from metra.api.app import API_PREFIX, create_app
from metra.api.context import ApiContext
from metra.api.settings import ApiSettings

__all__ = ["API_PREFIX", "ApiContext", "ApiSettings", "create_app"]
