"""Meter import: a fleet inventory or a vendor key file into master data and the key store.

A utility receives meters with a delivery file from the manufacturer: the meters' public facts
and their keys wrapped (RFC 3394 AES key wrap) under a key-encryption key (KEK) agreed out of
band. Two layouts are read:

- the fleet inventory of the virtual fleet (``metra-fleet-inventory`` v1, ``docs/fleet.md``),
  which also says where each meter listens;
- the vendor key file (``metra-vendor-keys`` v1, JSON or XML, ``docs/headend.md``): per meter its
  serial, system title and wrapped keys per interface and client SAP.

Everything is parsed and unwrapped before the first write, and the writes happen in one
transaction, so a wrong KEK, an altered key or a malformed entry imports nothing. Plain keys
live only in memory between unwrapping and sealing under the master key.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, Engine, insert, select

from metra.dlms.errors import SecurityError
from metra.dlms.keywrap import unwrap_key
from metra.store import addresses
from metra.store.addresses import CommAddress
from metra.store.masterdata import Entity, as_of, attribute_names, change
from metra.store.schema import meter as meter_table
from metra.store.schema import meter_version

from .errors import ImportFailed
from .keystore import INTERFACES, AssociationKeys, KeyStore, key_kind

FLEET_FORMAT = "metra-fleet-inventory"
VENDOR_FORMAT = "metra-vendor-keys"
#: Largest import file read: a delivery of a million meters in JSON stays well below this.
MAX_FILE_BYTES = 512 * 1024 * 1024
#: Serials per ``IN (...)`` list when looking up known meters.
_CHUNK = 500
_KEY_NAMES = {"encryption": "ek", "authentication": "ak", "ek": "ek", "ak": "ak"}


@dataclass(frozen=True)
class MeterAddress:
    """Where a meter listens, as the fleet inventory gives it."""

    host: str
    port: int
    transport: str = "wrapper"
    tls: bool = False
    server_address: int = 1
    physical_address: int = 0


@dataclass(frozen=True)
class ImportedMeter:
    """One meter from an import file, keys unwrapped (in memory only; repr hides them)."""

    serial: str
    system_title: bytes
    keys: Mapping[tuple[str, int], AssociationKeys] = field(repr=False)
    han_key: bytes | None = field(default=None, repr=False)
    address: MeterAddress | None = None
    master_key: bytes | None = field(default=None, repr=False)  # KEK of key_transfer (CMD-10)
    attributes: Mapping[str, Any] = field(default_factory=dict)


def _fail(where: str, why: str) -> ImportFailed:
    return ImportFailed(f"{where}: {why}")


def _unwrap(kek: bytes, text: object, where: str) -> bytes:
    if not isinstance(text, str):
        raise _fail(where, "a wrapped key must be a hex string")
    try:
        wrapped = bytes.fromhex(text.strip())
    except ValueError:
        raise _fail(where, "a wrapped key is not hexadecimal") from None
    try:
        return unwrap_key(kek, wrapped)
    except SecurityError:
        raise _fail(where, "wrong key-encryption key or altered wrapped key") from None


def _title(text: object, where: str) -> bytes:
    try:
        title = bytes.fromhex(str(text))
    except ValueError:
        raise _fail(where, "system title is not hexadecimal") from None
    if len(title) != 8:
        raise _fail(where, "a system title is 8 octets")
    return title


def _check_key(key: bytes, where: str) -> bytes:
    if len(key) not in (16, 32):
        raise _fail(where, "an association key must be 16 or 32 octets")
    return key


def _pairs(
    found: dict[tuple[str, int], dict[str, bytes]], where: str
) -> dict[tuple[str, int], AssociationKeys]:
    pairs: dict[tuple[str, int], AssociationKeys] = {}
    for (interface, sap), named in found.items():
        if set(named) != {"ek", "ak"}:
            raise _fail(where, f"{interface} SAP {sap} needs both an ek and an ak")
        pairs[(interface, sap)] = AssociationKeys(
            _check_key(named["ek"], where), _check_key(named["ak"], where)
        )
    return pairs


def _check_unique(meters: Sequence[ImportedMeter]) -> list[ImportedMeter]:
    serials: set[str] = set()
    titles: set[bytes] = set()
    for meter in meters:
        if meter.serial in serials or meter.system_title in titles:
            raise _fail(meter.serial, "serial or system title appears twice in the file")
        serials.add(meter.serial)
        titles.add(meter.system_title)
    return list(meters)


# ------------------------------------------------------------------------------- fleet inventory


def _fleet_meter(entry: Any, kek: bytes, index: int) -> ImportedMeter:
    where = f"meter {index} ({entry.get('serial', '?')})"
    found: dict[tuple[str, int], dict[str, bytes]] = {}
    for sap_text, assoc in entry["associations"].items():
        sap = int(sap_text)
        for interface in ("wan", "optical"):
            if interface in assoc:
                for name in ("encryption", "authentication"):
                    key = _unwrap(kek, assoc[interface][name], where)
                    found.setdefault((interface, sap), {})[_KEY_NAMES[name]] = key
    return ImportedMeter(
        serial=str(entry["serial"]),
        system_title=_title(entry["system_title"], where),
        keys=_pairs(found, where),
        han_key=_unwrap(kek, entry["han_key"], where) if entry.get("han_key") else None,
        master_key=_unwrap(kek, entry["master_key"], where) if entry.get("master_key") else None,
        address=MeterAddress(
            host=str(entry["host"]),
            port=int(entry["port"]),
            transport=str(entry["transport"]),
            tls=bool(entry["tls"]),
            server_address=int(entry["server_address"]),
            physical_address=int(entry["physical_address"]),
        ),
        attributes={"phases": int(entry["phases"])},
    )


def read_fleet_inventory(document: Mapping[str, Any], kek: bytes) -> list[ImportedMeter]:
    """The meters of a fleet inventory document (already parsed JSON)."""
    if document.get("version") != 1:
        raise ImportFailed(f"fleet inventory version {document.get('version')!r} is not 1")
    try:
        meters = [_fleet_meter(e, kek, i) for i, e in enumerate(document["meters"])]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ImportFailed):
            raise
        raise ImportFailed(f"fleet inventory is malformed ({type(exc).__name__})") from None
    return _check_unique(meters)


# ------------------------------------------------------------------------------- vendor key file


def _vendor_key(
    found: dict[tuple[str, int], dict[str, bytes]],
    attrs: Mapping[str, Any],
    wrapped: object,
    kek: bytes,
    where: str,
) -> bytes | None:
    """Add one key entry; returns the HAN key when the entry is one."""
    interface = str(attrs.get("interface", ""))
    kind = _KEY_NAMES.get(str(attrs.get("kind", "")))
    if interface == "han":
        return _check_key(_unwrap(kek, wrapped, where), where)
    if interface not in INTERFACES or kind is None:
        raise _fail(where, f"unknown key interface/kind {interface!r}/{attrs.get('kind')!r}")
    sap = int(attrs.get("client_sap", -1))
    if not 1 <= sap <= 0x7F:
        raise _fail(where, f"client SAP {sap} is not 1..127")
    named = found.setdefault((interface, sap), {})
    if kind in named:
        raise _fail(where, f"{interface} SAP {sap} {kind} given twice")
    named[kind] = _unwrap(kek, wrapped, where)
    return None


def _vendor_meter(
    serial: object, title: object, entries: Sequence[tuple[Mapping[str, Any], object]], kek: bytes
) -> ImportedMeter:
    where = f"meter {serial}"
    if not isinstance(serial, str) or not serial.strip():
        raise _fail(where, "missing serial")
    found: dict[tuple[str, int], dict[str, bytes]] = {}
    han: bytes | None = None
    for attrs, wrapped in entries:
        han = _vendor_key(found, attrs, wrapped, kek, where) or han
    if not found:
        raise _fail(where, "no keys")
    return ImportedMeter(serial, _title(title, where), _pairs(found, where), han)


def read_vendor_json(document: Mapping[str, Any], kek: bytes) -> list[ImportedMeter]:
    """The meters of a vendor key file in JSON (already parsed)."""
    try:
        meters = [
            _vendor_meter(
                m.get("serial"),
                m.get("system_title"),
                [(k, k.get("wrapped")) for k in m["keys"]],
                kek,
            )
            for m in document["meters"]
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ImportFailed):
            raise
        raise ImportFailed(f"vendor key file is malformed ({type(exc).__name__})") from None
    return _check_unique(meters)


def read_vendor_xml(data: bytes, kek: bytes) -> list[ImportedMeter]:
    """The meters of a vendor key file in XML. DTDs and entities are refused outright, which
    closes the entity-expansion and external-entity attacks on the parser."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ImportFailed("vendor key file: DTDs and entities are not accepted")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ImportFailed(f"vendor key file is not well-formed XML ({exc})") from None
    if root.tag != "KeyFile" or root.get("format") != VENDOR_FORMAT or root.get("version") != "1":
        raise ImportFailed("not a metra-vendor-keys v1 XML file")
    try:
        meters = [
            _vendor_meter(
                m.get("serial"),
                m.get("systemTitle"),
                [
                    (
                        {
                            "interface": k.get("interface"),
                            "kind": k.get("kind"),
                            "client_sap": k.get("clientSap", "-1"),
                        },
                        (k.text or ""),
                    )
                    for k in m.iter("Key")
                ],
                kek,
            )
            for m in root.iter("Meter")
        ]
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ImportFailed):
            raise
        raise ImportFailed(f"vendor key file is malformed ({type(exc).__name__})") from None
    return _check_unique(meters)


def read_file(path: str | Path, kek: bytes) -> list[ImportedMeter]:
    """Read any supported import file (the layout is recognised from its content)."""
    if len(kek) not in (16, 24, 32):
        raise ImportFailed("the key-encryption key must be 16, 24 or 32 octets")
    target = Path(path)
    try:
        if target.stat().st_size > MAX_FILE_BYTES:
            raise ImportFailed(f"{target} is larger than {MAX_FILE_BYTES} bytes")
        data = target.read_bytes()
    except OSError as exc:
        raise ImportFailed(f"cannot read {target}: {exc.strerror}") from None
    if data.lstrip()[:1] == b"<":
        return read_vendor_xml(data, kek)
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ImportFailed(f"{target} is neither JSON nor XML") from None
    if not isinstance(document, dict):
        raise ImportFailed(f"{target} is not an import document")
    if document.get("format") == FLEET_FORMAT:
        return read_fleet_inventory(document, kek)
    if document.get("format") == VENDOR_FORMAT and document.get("version") == 1:
        return read_vendor_json(document, kek)
    raise ImportFailed(f"{target}: unknown format {document.get('format')!r}")


# ------------------------------------------------------------------------------------ storing


def _known_meters(conn: Connection, serials: Sequence[str], today: date) -> dict[str, UUID]:
    """The registered meters among `serials` (valid today), in a few queries instead of one
    search per meter; like `find`, the lowest id wins should a serial be registered twice."""
    versions = meter_version
    candidates: set[UUID] = set()
    wanted = sorted(set(serials))
    for i in range(0, len(wanted), _CHUNK):
        query = (
            select(versions.c.entity_id)
            .distinct()
            .where(versions.c.serial.in_(wanted[i : i + _CHUNK]), versions.c.valid_from <= today)
        )
        candidates.update(conn.execute(query).scalars())
    known: dict[str, UUID] = {}
    for meter_id in sorted(candidates):
        current = as_of(conn, Entity.METER, meter_id, today)
        if current is not None:
            known.setdefault(current.attributes["serial"], meter_id)
    return known


def _register(
    conn: Connection, new: Sequence[tuple[UUID, ImportedMeter]], today: date, at: datetime, by: str
) -> None:
    """Create the new meters' identities and first versions (what `masterdata.create` writes)
    as executemany statements, grouped by the attributes present."""
    allowed = set(attribute_names(Entity.METER))
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for meter_id, meter in new:
        attrs = {"serial": meter.serial, "system_title": meter.system_title, **meter.attributes}
        unknown = set(attrs) - allowed
        if unknown:
            raise _fail(meter.serial, f"meter has no attribute(s) {sorted(unknown)}")
        row = {"entity_id": meter_id, "valid_from": today, "recorded_at": at, "recorded_by": by}
        groups.setdefault(tuple(sorted(attrs)), []).append({**row, **attrs})
    if new:
        conn.execute(insert(meter_table), [{"id": m, "created_at": at} for m, _ in new])
    for rows in groups.values():
        conn.execute(insert(meter_version), rows)


def _address_row(address: CommAddress, at: datetime, by: str) -> dict[str, Any]:
    """The `meter_address` columns of a meter's first address (what `addresses.put` writes)."""
    fields = {name: getattr(address, name) for name in CommAddress.__dataclass_fields__}
    return {"version": 1, "valid_from": at, "recorded_by": by, **fields}


def store_meters(
    conn: Connection,
    keystore: KeyStore,
    meters: Sequence[ImportedMeter],
    *,
    at: datetime,
    by: str,
) -> dict[str, UUID]:
    """Register the meters (new serials) and store their keys in the caller's transaction.

    A serial already known keeps its identity; a different system title for it is refused
    (a meter does not change its title), so a re-import only replaces keys. Known serials are
    looked up at once and every check runs before the first write; new meters, keys and audit
    entries go in as batches (one `meter.import` entry per meter naming its keys).
    """
    today = at.date()
    known = _known_meters(conn, [m.serial for m in meters], today)
    ids: dict[str, UUID] = {}
    new: list[tuple[UUID, ImportedMeter]] = []
    titled: list[tuple[UUID, ImportedMeter]] = []
    for meter in meters:
        meter_id = known.get(meter.serial)
        if meter_id is None:
            meter_id = uuid4()
            new.append((meter_id, meter))
        else:
            current = as_of(conn, Entity.METER, meter_id, today)
            stored_title = current.attributes["system_title"] if current else None
            if stored_title is None:
                titled.append((meter_id, meter))
            elif bytes(stored_title) != meter.system_title:
                raise _fail(meter.serial, "system title differs from the registered one")
        ids[meter.serial] = meter_id
    _register(conn, new, today, at, by)
    for meter_id, meter in titled:
        change(
            conn,
            Entity.METER,
            meter_id,
            {"system_title": meter.system_title},
            effective=today,
            at=at,
            by=by,
        )
    batch: list[tuple[UUID, str, str, bytes]] = []
    details: dict[UUID, dict[str, Any]] = {}
    fresh = {meter_id for meter_id, _ in new}
    first: list[dict[str, Any]] = []
    for meter in meters:
        meter_id = ids[meter.serial]
        for (interface, sap), pair in sorted(meter.keys.items()):
            batch.append((meter_id, interface, key_kind("ek", sap), pair.encryption_key))
            batch.append((meter_id, interface, key_kind("ak", sap), pair.authentication_key))
        if meter.han_key is not None:
            batch.append((meter_id, "han", key_kind("ek"), meter.han_key))
        if meter.master_key is not None:
            batch.append((meter_id, "wan", "kek", meter.master_key))
        details[meter_id] = {"serial": meter.serial, "keys": len(meter.keys)}
        if meter.address is not None:  # where the meter listens: the collector's target
            a = meter.address
            endpoint = CommAddress(
                a.host, a.port, a.transport, a.tls, a.server_address, a.physical_address
            )
            if meter_id in fresh:  # no address yet: version 1, audited in its meter.import
                first.append({"meter_id": meter_id, **_address_row(endpoint, at, by)})
                details[meter_id]["address"] = f"{a.host}:{a.port} ({a.transport})"
            else:  # a known meter: the repository versions and audits any change
                addresses.put(conn, meter_id, endpoint, at=at, by=by)
    if first:
        conn.execute(insert(addresses.meter_address), first)
    keystore.put_many(conn, batch, at=at, by=by, action="meter.import", details=details)
    return ids


def import_file(
    engine: Engine, keystore: KeyStore, path: str | Path, kek: bytes, *, at: datetime, by: str
) -> tuple[dict[str, UUID], list[ImportedMeter]]:
    """Read, unwrap and store a whole file in one transaction: all meters or none."""
    meters = read_file(path, kek)
    with engine.begin() as conn:
        ids = store_meters(conn, keystore, meters, at=at, by=by)
    return ids, meters
