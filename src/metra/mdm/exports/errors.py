"""Typed refusals of an export, so a face can say what was wrong without a traceback."""

from __future__ import annotations


class ExportError(ValueError):
    """An export that cannot be made as asked (unknown meter, empty selection, bad period)."""


class SignatureError(ExportError):
    """A report whose signature is missing, malformed or does not verify (ACC-4)."""
