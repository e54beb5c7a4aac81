"""Readers of the JSON fields of command parameters and parameter files, each raising
`ParamsError` with the path of the field (``calendar.days[1].actions[0].start``) so a person can
find what to fix. Shared by `command_params` and `parameter_file`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from metra.dlms.errors import DlmsError
from metra.dlms.obis import Obis


class ParamsError(ValueError):
    """A command's parameters do not make a command; `path` names the field, `reason` what is
    wrong with it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


def required(obj: Mapping[str, Any], key: str, path: str) -> Any:
    """`obj[key]`, or a `ParamsError` naming the missing field."""
    if not isinstance(obj, Mapping):
        raise ParamsError(path, "expected an object")
    if key not in obj:
        raise ParamsError(join(path, key), "missing")
    return obj[key]


def join(path: str, key: str) -> str:
    """The path of a field inside `path`."""
    return f"{path}.{key}" if path else key


def integer(value: Any, path: str, lo: int, hi: int) -> int:
    """An integer within [lo, hi] (JSON booleans are not integers)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParamsError(path, f"expected an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ParamsError(path, f"{value} is outside {lo}..{hi}")
    return value


def items(value: Any, path: str, limit: int) -> Sequence[Any]:
    """A JSON list of at most `limit` elements."""
    if not isinstance(value, list):
        raise ParamsError(path, "expected a list")
    if len(value) > limit:
        raise ParamsError(path, f"{len(value)} entries, at most {limit}")
    return value


def obis(value: Any, path: str) -> Obis:
    """An OBIS code as text (``1-0:99.1.0.255``)."""
    try:
        return Obis.parse(value)
    except DlmsError as exc:
        raise ParamsError(path, str(exc)) from None


def instant(value: Any, path: str) -> datetime:
    """An ISO 8601 time with its UTC offset."""
    if not isinstance(value, str):
        raise ParamsError(path, "expected an ISO 8601 time with offset")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ParamsError(path, f"not an ISO 8601 time: {value!r}") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ParamsError(path, "the time needs its UTC offset")
    return when
