"""Prepared parameter files for group parameterisation of meters (CMD-8, S2 4.7.2d).

A parameter file is prepared and reviewed before it is used: a list of COSEM attributes with the
typed value each should hold. The service role applies such a file to a group of meters (a
substation's, or a list); it does not write arbitrary attributes by hand (`meters:parameterise`,
see `metra.security.roles`). The file is checked completely when it is loaded: a file with one
bad entry is refused as a whole with a `ParameterFileError` naming the entry and field, and
nothing is submitted or sent.

Format (JSON, or TOML with the same keys; docs/commands.md has an example)::

    {"name": "LP 30 min", "set": [
        {"class_id": 7, "obis": "1-0:99.1.0.255", "attribute": 4,
         "type": "double-long-unsigned", "value": 1800}]}

Types: ``boolean``, ``integer``, ``long``, ``double-long``, ``long64``, ``unsigned``,
``long-unsigned``, ``double-long-unsigned``, ``long64-unsigned``, ``enum``, ``float32``,
``float64``, ``octet-string`` (hex), ``visible-string``, ``utf8-string``, ``logical-name``
(OBIS text, sent as its 6 octets), ``date-time`` (ISO 8601 with offset, sent as the 12-octet
string), ``array`` and ``structure`` (``value`` a list of ``{"type", "value"}``).

Attributes that other commands own are refused, because those commands carry safeguards a file
would bypass: the relay (disconnect control, two-person rule and controlled zone), security
setups and associations (key change, SEC-7), image transfer (firmware, CMD-7), the clock's time
and the limiter's emergency profile (signed, CMD-6), the HAN push destinations (ACC-2), and the
tariff tables (the time-of-use check of master data).

The file's settings travel in the command's parameters with the file's name and SHA-256, so each
meter's command says which file it applied; the executor parses them again before sending.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metra.dlms import axdr
from metra.dlms.data import (
    Array,
    Data,
    DateTime,
    DoubleLong,
    DoubleLongUnsigned,
    Enum,
    Float32,
    Float64,
    Integer,
    Long,
    Long64,
    Long64Unsigned,
    LongUnsigned,
    OctetString,
    Structure,
    Unsigned,
    Utf8String,
    VisibleString,
)
from metra.dlms.obis import Obis

from .param_fields import ParamsError, instant, integer, items, obis, required

#: Largest parameter file read, settings in one file, nesting and elements of one value.
MAX_FILE_OCTETS = 1 << 20
MAX_SETTINGS = 256
MAX_DEPTH = 8
MAX_ELEMENTS = 256
MAX_OCTETS = 1024
FLOAT32_MAX = 3.4028234663852886e38

_INTEGERS = {
    "integer": Integer,
    "long": Long,
    "double-long": DoubleLong,
    "long64": Long64,
    "unsigned": Unsigned,
    "long-unsigned": LongUnsigned,
    "double-long-unsigned": DoubleLongUnsigned,
    "long64-unsigned": Long64Unsigned,
    "enum": Enum,
}

#: (class id, attribute or None for every attribute) -> the command that owns it.
OWNED: dict[tuple[int, int | None], str] = {
    (70, None): "connect / disconnect",
    (64, None): "key_change",
    (15, None): "key_change",
    (18, None): "firmware_update",
    (8, 2): "time_set / time_sync",
    (71, 8): "emergency_power_limit",
    (20, None): "activity_calendar",
    (11, None): "special_days",
}
#: HAN push setups, whose destination opens the customer's port (han_open / han_close).
HAN_SETUPS = (Obis(0, 7, 25, 9, 0, 255), Obis(0, 6, 25, 9, 0, 255))


class ParameterFileError(ValueError):
    """A parameter file that cannot be applied; `path` names the entry and field."""

    def __init__(self, source: str, path: str, message: str) -> None:
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {message}")
        self.source = source
        self.path = path


@dataclass(frozen=True)
class Setting:
    """One attribute and the value it should hold (`spec`: the entry as written, for the
    command's parameters)."""

    class_id: int
    obis: Obis
    attribute: int
    value: Data
    spec: Mapping[str, Any]


@dataclass(frozen=True)
class ParameterFile:
    """A checked parameter file: its name, SHA-256 of its bytes, and its settings."""

    name: str
    sha256: str
    settings: tuple[Setting, ...]

    def params(self) -> dict[str, Any]:
        """The parameters of a ``parameterise`` command applying this file."""
        return {
            "file": {"name": self.name, "sha256": self.sha256},
            "set": [dict(s.spec) for s in self.settings],
        }


def typed_value(spec: Any, path: str, depth: int = 0) -> Data:
    """A ``{"type", "value"}`` to the DLMS value it names; `ParamsError` when it is none."""
    if depth > MAX_DEPTH:
        raise ParamsError(path, f"nested deeper than {MAX_DEPTH}")
    kind = required(spec, "type", path)
    value = required(spec, "value", path)
    at = f"{path}.value" if path else "value"
    if kind in _INTEGERS:
        cls = _INTEGERS[kind]
        return cls(integer(value, at, cls.lo, cls.hi))
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ParamsError(at, "expected true or false")
        return value
    if kind in ("float32", "float64"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ParamsError(at, "expected a number")
        if not math.isfinite(value) or (kind == "float32" and abs(value) > FLOAT32_MAX):
            raise ParamsError(at, f"expected a finite number a {kind} can hold")
        return Float32(value) if kind == "float32" else Float64(value)
    if kind == "octet-string":
        try:
            raw = bytes.fromhex(value) if isinstance(value, str) else None
        except ValueError:
            raw = None
        if raw is None or len(raw) > MAX_OCTETS:
            raise ParamsError(at, f"expected hex digits of at most {MAX_OCTETS} octets")
        return OctetString(raw)
    if kind in ("visible-string", "utf8-string"):
        if not isinstance(value, str) or len(value.encode()) > MAX_OCTETS:
            raise ParamsError(at, f"expected text of at most {MAX_OCTETS} octets")
        if kind == "visible-string":
            if not value.isascii() or not value.isprintable():
                raise ParamsError(at, "a visible-string holds printable ASCII only")
            return VisibleString(value)
        return Utf8String(value)
    if kind == "logical-name":
        return OctetString(obis(value, at).to_bytes())
    if kind == "date-time":
        return OctetString(axdr.datetime_to_bytes(DateTime.from_datetime(instant(value, at))))
    if kind in ("array", "structure"):
        elements = [
            typed_value(v, f"{at}[{i}]", depth + 1)
            for i, v in enumerate(items(value, at, MAX_ELEMENTS))
        ]
        return Array(elements) if kind == "array" else Structure(elements)
    raise ParamsError(f"{path}.type" if path else "type", f"unknown type {kind!r}")


def _setting(entry: Any, path: str) -> Setting:
    if not isinstance(entry, Mapping):
        raise ParamsError(path, "expected an object")
    class_id = integer(required(entry, "class_id", path), f"{path}.class_id", 1, 0xFFFF)
    ln = obis(required(entry, "obis", path), f"{path}.obis")
    attribute = integer(required(entry, "attribute", path), f"{path}.attribute", 2, 127)
    owner = OWNED.get((class_id, None)) or OWNED.get((class_id, attribute))
    if class_id == 40 and attribute == 3 and ln in HAN_SETUPS:
        owner = "han_open / han_close"
    if owner is not None:
        raise ParamsError(path, f"class {class_id} attribute {attribute} belongs to {owner}")
    value = typed_value(entry, path)
    spec = {
        "class_id": class_id,
        "obis": str(ln),
        "attribute": attribute,
        "type": entry["type"],
        "value": entry["value"],
    }
    return Setting(class_id, ln, attribute, value, spec)


def settings(entries: Any, path: str = "set") -> tuple[Setting, ...]:
    """Check every entry of a file's (or a command's) ``set`` list."""
    listed: Sequence[Any] = items(entries, path, MAX_SETTINGS)
    if not listed:
        raise ParamsError(path, "a parameter file sets at least one attribute")
    out = tuple(_setting(e, f"{path}[{i}]") for i, e in enumerate(listed))
    seen = set()
    for i, s in enumerate(out):
        key = (s.class_id, s.obis, s.attribute)
        if key in seen:
            raise ParamsError(f"{path}[{i}]", "the same attribute is set twice")
        seen.add(key)
    return out


def parse(raw: bytes, source: str) -> ParameterFile:
    """A parameter file's bytes (JSON, or TOML when `source` ends in ``.toml``) checked whole."""
    if len(raw) > MAX_FILE_OCTETS:
        raise ParameterFileError(source, "", f"larger than {MAX_FILE_OCTETS} octets")
    try:
        text = raw.decode("utf-8")
        doc = tomllib.loads(text) if source.endswith(".toml") else json.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ParameterFileError(source, "", f"not readable: {exc}") from None
    try:
        if not isinstance(doc, Mapping):
            raise ParamsError("", "expected an object with name and set")
        name = required(doc, "name", "")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ParamsError("name", "a name of 1..200 characters")
        unknown = set(doc) - {"name", "set", "description"}
        if unknown:
            raise ParamsError("", f"unknown keys {sorted(unknown)}")
        checked = settings(required(doc, "set", ""))
    except ParamsError as exc:
        raise ParameterFileError(source, exc.path, exc.reason) from None
    return ParameterFile(name.strip(), hashlib.sha256(raw).hexdigest(), checked)


def load(path: Path) -> ParameterFile:
    """Read and check a parameter file; `ParameterFileError` for anything wrong with it."""
    try:
        if path.stat().st_size > MAX_FILE_OCTETS:
            raise ParameterFileError(str(path), "", f"larger than {MAX_FILE_OCTETS} octets")
        raw = path.read_bytes()
    except OSError as exc:
        raise ParameterFileError(str(path), "", exc.strerror or str(exc)) from None
    return parse(raw, str(path))


def command_settings(params: Mapping[str, Any]) -> tuple[Setting, ...]:
    """The settings of a stored ``parameterise`` command (parsed again at execution)."""
    required(params, "file", "")
    return settings(required(params, "set", ""))
