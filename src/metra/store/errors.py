"""Typed failures of the metering store, so callers can tell bad input from a missing row."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every failure the store raises on purpose."""


class NotFound(StoreError):
    """The row a caller named does not exist (or did not exist on the date asked)."""


class InvalidData(StoreError):
    """A caller passed data the store cannot keep as given (unknown attribute, wrong length)."""
