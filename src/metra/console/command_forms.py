"""The command builder's form, read into what `metra.security.command_requests.submit` takes.

Why checked here as well as in the engine: a face checks what it can before it submits (the
command line does the same with `command_params.check` and `parameter_file`), so a mistyped
serial, a bad calendar or an unreadable parameter file is refused with a message and nothing is
stored, while everything that is a safeguard (permission, two people, limits, controlled zone,
deactivated functions) stays the engine's decision and is recorded there.

Fields: ``kind``; the target as serial numbers (``serials``, separated by commas, spaces or
lines) or a substation code (``substation``: every meter installed behind it today, from master
data); ``execute_at`` as local time in the profile's zone (empty: as soon as possible);
``reason``; ``emergency``; ``request_id`` (a fresh id per rendered form, so a form sent twice
acts once); and each kind's own parameters (`KIND_FIELDS`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select
from starlette.datastructures import FormData

from metra.console.i18n import N_
from metra.console.pages.common import FormError, text
from metra.headend import command_params, parameter_file
from metra.headend.command_params import ParamsError
from metra.headend.parameter_file import ParameterFileError
from metra.mdm.kpi.population import population
from metra.profiles.model import Profile
from metra.security.safeguards import KIND_PERMISSIONS
from metra.store.command_schema import firmware_image
from metra.store.masterdata import Entity, find

#: Meters one form may name (a substation's members are counted the same way).
MAX_METERS = 5000
#: The kinds whose parameters are a JSON document (or a parameter file) in the ``params`` field.
DOCUMENT_KINDS = ("activity_calendar", "special_days", "data_scope", "parameterise")
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "power_limit": ("watts",),
    "emergency_power_limit": ("watts", "duration_s", "end"),
    "time_set": ("time",),
    "han_open": ("destination",),
    "key_change": ("saps",),
    "firmware_update": ("image_id", "wave_size", "max_failures"),
    **{kind: ("params",) for kind in DOCUMENT_KINDS},
}
"""The extra fields each kind's form section shows; kinds not named take none."""
KIND_LABELS = {
    "connect": N_("Connect (close the relay)"),
    "disconnect": N_("Disconnect (open the relay)"),
    "power_limit": N_("Power limiter: normal threshold"),
    "emergency_power_limit": N_("Power limiter: emergency threshold"),
    "time_sync": N_("Time synchronisation"),
    "time_set": N_("Set the time"),
    "activity_calendar": N_("Tariff: activity calendar"),
    "special_days": N_("Tariff: special days"),
    "data_scope": N_("Scope of data sent"),
    "parameterise": N_("Parameter file"),
    "han_open": N_("HAN port: open"),
    "han_close": N_("HAN port: close"),
    "key_change": N_("Key change"),
    "firmware_update": N_("Firmware update"),
}
"""Every kind the engine knows (`KIND_PERMISSIONS`), named for people."""
SAPS = (1, 2, 3)
_SPLIT = re.compile(r"[\s,;]+")
_DESTINATION = re.compile(r"^[A-Za-z0-9.\-\[\]:]{1,250}:[0-9]{1,5}$")


class DetailedFormError(FormError):
    """A refused field with a detail shown as it is (a serial, a parameter path)."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Order:
    """A filled-in builder form, ready for `submit`."""

    kind: str
    meter_ids: list[UUID]
    params: dict[str, Any]
    execute_at: datetime | None
    reason: str
    emergency: bool
    request_id: UUID


@dataclass(frozen=True)
class Image:
    """A kept firmware image the builder offers."""

    id: UUID
    meter_type: str
    version: str


def kinds() -> list[str]:
    """The kinds the engine supports, in the order of `KIND_LABELS`."""
    return [k for k in KIND_LABELS if k in KIND_PERMISSIONS]


def images(conn: Connection) -> list[Image]:
    """Kept (not retired) firmware images, newest first."""
    t = firmware_image.c
    rows = conn.execute(
        select(t.id, t.meter_type, t.version)
        .where(t.removed_at.is_(None))
        .order_by(t.meter_type, t.added_at.desc())
    )
    return [Image(*row) for row in rows]


def _integer(form: FormData, name: str, lo: int, hi: int, default: int | None = None) -> int:
    raw = text(form, name, max_length=12, required=default is None)
    if not raw and default is not None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise DetailedFormError(N_("A number is out of range."), f"{name}: {lo}..{hi}")
    return int(raw)


def local_time(raw: str, zone: ZoneInfo) -> datetime:
    """A ``datetime-local`` value read in the profile's zone."""
    try:
        moment = datetime.fromisoformat(raw[:32])
    except ValueError:
        raise FormError(N_("Please enter a date and time.")) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment


def _document(form: FormData, kind: str) -> tuple[dict[str, Any], str | None]:
    """A JSON parameter document, or for ``parameterise`` a prepared parameter file (JSON);
    returns the parameters and, for a file, what the reason should name."""
    raw = text(form, "params", max_length=parameter_file.MAX_FILE_OCTETS)
    if kind == "parameterise":
        try:
            prepared = parameter_file.parse(raw.encode(), "form.json")
        except ParameterFileError as exc:
            raise DetailedFormError(N_("The parameters were refused."), str(exc)) from None
        return prepared.params(), f"parameter file {prepared.name} (sha256 {prepared.sha256})"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DetailedFormError(N_("The parameters were refused."), str(exc)) from None
    if not isinstance(value, dict):
        raise DetailedFormError(N_("The parameters were refused."), "expected a JSON object")
    try:
        command_params.check(kind, value)
    except ParamsError as exc:
        raise DetailedFormError(N_("The parameters were refused."), str(exc)) from None
    return value, None


def params_of(
    conn: Connection, form: FormData, kind: str, zone: ZoneInfo
) -> tuple[dict[str, Any], str | None]:
    """The parameters of `kind` from its form fields (see `KIND_FIELDS`)."""
    if kind in DOCUMENT_KINDS:
        return _document(form, kind)
    params: dict[str, Any] = {}
    if kind in ("power_limit", "emergency_power_limit"):
        ending = kind == "emergency_power_limit" and form.get("end") == "1"
        if ending:
            params["active"] = False
        else:
            params["watts"] = _integer(form, "watts", 0, 0xFFFFFFFF)
        if kind == "emergency_power_limit" and not ending:
            params["duration_s"] = _integer(form, "duration_s", 1, 31 * 86400, 3600)
    elif kind == "time_set":
        params["time"] = local_time(text(form, "time", max_length=32), zone).isoformat()
    elif kind == "han_open":
        destination = text(form, "destination", max_length=256)
        if not _DESTINATION.match(destination):
            raise DetailedFormError(N_("The parameters were refused."), "destination: host:port")
        params["destination"] = destination
    elif kind == "key_change":
        offered = {str(sap): sap for sap in SAPS}
        chosen = sorted(
            {offered[s] for s in form.getlist("saps") if isinstance(s, str) and s in offered}
        )
        if not chosen:
            raise FormError(N_("Please fill in every required field."))
        params["saps"] = chosen
    elif kind == "firmware_update":
        wanted = text(form, "image_id", max_length=36)
        kept = {str(i.id): i for i in images(conn)}
        if wanted not in kept:
            raise FormError(N_("Please choose a kept firmware image."))
        params["image_id"] = wanted
        params["wave_size"] = _integer(form, "wave_size", 1, MAX_METERS, 10)
        params["max_failures"] = _integer(form, "max_failures", 0, MAX_METERS, 0)
    return params, None


def targets(conn: Connection, form: FormData, profile: Profile, today: date) -> list[UUID]:
    """The meters named by serial, or every meter installed behind the substation."""
    code = text(form, "substation", max_length=64, required=False)
    listed = _SPLIT.split(text(form, "serials", max_length=200_000, required=False))
    serials = [s for s in listed if s]
    if bool(code) == bool(serials):
        raise FormError(N_("Name the meters by serial number or choose a substation, not both."))
    if code:
        pop = population(conn, profile, today)
        found = [m for m, c in zip(pop.meter_ids, pop.substation_codes, strict=True) if c == code]
        if not found:
            raise DetailedFormError(N_("No meter is installed behind that substation."), code)
    else:
        found = []
        for serial in dict.fromkeys(serials):
            ids = find(conn, Entity.METER, today, serial=serial)
            if not ids:
                raise DetailedFormError(N_("No meter has that serial number."), serial[:64])
            found.append(ids[0])
    if len(found) > MAX_METERS:
        raise DetailedFormError(N_("Too many meters for one request."), f"{MAX_METERS}")
    return found


def order(conn: Connection, form: FormData, profile: Profile, today: date) -> Order:
    """The whole form; `FormError` (with a detail where one helps) for anything wrong."""
    kind = text(form, "kind", max_length=32)
    if kind not in kinds():
        raise FormError(N_("Please choose a kind of command."))
    zone = ZoneInfo(profile.timezone)
    try:
        request_id = UUID(text(form, "request_id", max_length=36))
    except ValueError:
        raise FormError(N_("The form has expired. Reload the page and try again.")) from None
    reason = text(form, "reason", max_length=1000)
    meters = targets(conn, form, profile, today)
    params, named = params_of(conn, form, kind, zone)
    when = text(form, "execute_at", max_length=32, required=False)
    return Order(
        kind,
        meters,
        params,
        local_time(when, zone) if when else None,
        f"{reason} ({named})" if named else reason,
        form.get("emergency") == "1",
        request_id,
    )
