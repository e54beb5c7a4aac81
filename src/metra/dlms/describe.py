"""Human- and machine-readable renderings of frames and APDUs (JSON-able trees, translator XML).

Engineers debugging a meter paste hex from a trace; this turns it into a tree that names every
field, in the form ``metra dlms decode`` prints. It detects the framing from the first bytes (HDLC
flag 0x7E, wrapper version 0x0001, else a bare APDU), deciphers when keys are given, and always
fails with a :class:`DecodeError` naming the offset rather than guessing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from typing import Any
from xml.sax.saxutils import quoteattr

from . import axdr
from .acse import decode_acse
from .data import (
    TAG_NAMES,
    Array,
    BitString,
    CompactArray,
    Date,
    DateTime,
    DontCare,
    Float32,
    Float64,
    Structure,
    Time,
    TypeDescription,
    _TypedInt,
)
from .errors import DecodeError, SecurityError
from .hdlc import decode_frame
from .initiate import (
    decode_confirmed_service_error,
    decode_exception_response,
    decode_initiate_request,
    decode_initiate_response,
)
from .security import decipher_apdu, is_ciphered_tag
from .wrapper import HEADER_SIZE, WRAPPER_VERSION, WrapperDecoder
from .xdlms.codec import decode_apdu

#: LLC headers that precede an APDU inside HDLC I-frames (IEC 62056-46 / Green Book 8.4.2).
LLC_HEADERS = (b"\xe6\xe6\x00", b"\xe6\xe7\x00")

_APDU_NAMES = {
    0x01: "initiate-request",
    0x08: "initiate-response",
    0x0E: "confirmed-service-error",
    0x60: "aarq",
    0x61: "aare",
    0x62: "rlrq",
    0x63: "rlre",
    0xD8: "exception-response",
}


@dataclasses.dataclass(frozen=True)
class Keys:
    """Keys for deciphering while decoding; ``system_title`` is the sender's (needed for
    service-specific glo-/ded- APDUs, which do not carry it)."""

    encryption_key: bytes = dataclasses.field(repr=False)
    authentication_key: bytes = dataclasses.field(repr=False)
    system_title: bytes | None = None
    dedicated_key: bytes | None = dataclasses.field(default=None, repr=False)


def data_to_json(value: object) -> Any:
    """A COSEM value as ``{"type": ..., "value": ...}`` with hex for octets."""
    if value is None:
        return {"type": "null-data"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, _TypedInt):
        return {"type": TAG_NAMES[value.tag], "value": int(value)}
    if isinstance(value, Float32 | Float64):
        return {"type": TAG_NAMES[value.tag], "value": float(value)}
    if isinstance(value, BitString):
        return {"type": "bit-string", "value": str(value)}
    if isinstance(value, bytes):
        out: dict[str, Any] = {"type": "octet-string", "value": value.hex()}
        if len(value) == 12:
            with contextlib.suppress(DecodeError, ValueError):
                out["date-time"] = _datetime_text(axdr.datetime_from_bytes(value))
        return out
    if isinstance(value, str):
        from .data import Utf8String

        return {
            "type": "utf8-string" if isinstance(value, Utf8String) else "visible-string",
            "value": str(value),
        }
    if isinstance(value, Array | Structure):
        return {
            "type": "array" if isinstance(value, Array) else "structure",
            "value": [data_to_json(v) for v in value],
        }
    if isinstance(value, DateTime):
        return {"type": "date-time", "value": _datetime_text(value)}
    if isinstance(value, Date | Time):
        return {"type": TAG_NAMES[value.tag], "value": dataclasses.asdict(value)}
    if isinstance(value, CompactArray):
        return {
            "type": "compact-array",
            "description": _description_json(value.description),
            "value": [data_to_json(v) for v in value.values],
        }
    if isinstance(value, DontCare):
        return {"type": "dont-care"}
    raise TypeError(f"not a COSEM value: {type(value).__name__}")


def _description_json(desc: TypeDescription) -> Any:
    if desc.tag == 1:
        return {"array": desc.count, "of": _description_json(desc.elements[0])}
    if desc.tag == 2:
        return {"structure": [_description_json(e) for e in desc.elements]}
    return TAG_NAMES[desc.tag]


def _datetime_text(value: DateTime) -> str:
    try:
        return value.to_datetime().isoformat()
    except ValueError:
        return " ".join(f"{k}={v}" for k, v in dataclasses.asdict(value).items())


def to_json(obj: object) -> Any:
    """Any decoded APDU (dataclass tree) as JSON-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type | DateTime | Date | Time):
        if isinstance(obj, CompactArray):
            return data_to_json(obj)
        out: dict[str, Any] = {"type": _kebab(type(obj).__name__)}
        for f in dataclasses.fields(obj):
            out[f.name.replace("_", "-")] = to_json(getattr(obj, f.name))
        return out
    if isinstance(obj, enum.Enum):
        return obj.name.lower().replace("_", "-")
    if isinstance(obj, list | tuple) and not isinstance(obj, Array | Structure):
        return [to_json(v) for v in obj]
    if isinstance(obj, bytes) and type(obj) is bytes:
        return obj.hex()
    if isinstance(obj, int) and type(obj) is int:
        return obj
    try:
        return data_to_json(obj)
    except TypeError:
        return str(obj)


def _tree(obj: object) -> dict[str, Any]:
    tree = to_json(obj)
    assert isinstance(tree, dict)
    return tree


def _kebab(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("-")
        out.append(ch.lower())
    return "".join(out)


def describe_apdu(apdu: bytes, keys: Keys | None = None) -> dict[str, Any]:
    """Decode one APDU of any kind into a JSON-able tree."""
    if not apdu:
        raise DecodeError("empty APDU", 0)
    tag = apdu[0]
    if tag in (0x60, 0x61, 0x62, 0x63):
        acse = decode_acse(apdu)
        tree = _tree(acse)
        info = getattr(acse, "user_information", None)
        if info:
            try:
                tree["user-information-decoded"] = describe_apdu(bytes(info), keys)
            except (DecodeError, SecurityError) as exc:
                tree["user-information-decoded"] = {"error": str(exc)}
        return tree
    if is_ciphered_tag(tag):
        return _describe_ciphered(apdu, keys)
    if tag == 0x01:
        return _tree(decode_initiate_request(apdu))
    if tag == 0x08:
        return _tree(decode_initiate_response(apdu))
    if tag == 0x0E:
        return _tree(decode_confirmed_service_error(apdu))
    if tag == 0xD8:
        return _tree(decode_exception_response(apdu))
    return _tree(decode_apdu(apdu))


def _describe_ciphered(apdu: bytes, keys: Keys | None) -> dict[str, Any]:
    tree: dict[str, Any] = {"type": "ciphered-apdu", "tag": apdu[0]}
    if keys is None:
        tree["note"] = "give --ek and --ak (and --system-title) to decipher"
        tree["raw"] = apdu.hex()
        return tree
    deciphered = decipher_apdu(
        apdu,
        ek=keys.encryption_key,
        ak=keys.authentication_key,
        system_title=keys.system_title,
        dedicated_key=keys.dedicated_key,
    )
    tree["kind"] = deciphered.kind.name.lower().replace("_", "-")
    tree["security-control"] = to_json(deciphered.sc)
    tree["system-title"] = (deciphered.system_title or b"").hex()
    tree["invocation-counter"] = deciphered.invocation_counter
    tree["content"] = describe_apdu(deciphered.plaintext, keys)
    return tree


def describe(raw: bytes, keys: Keys | None = None) -> dict[str, Any]:
    """Decode a wrapper frame, an HDLC frame or a bare APDU, detected from the first bytes."""
    if not raw:
        raise DecodeError("no input", 0)
    if raw[0] == 0x7E:
        frame = decode_frame(raw)
        tree: dict[str, Any] = {"frame": "hdlc", "hdlc": to_json(frame)}
        info = bytes(frame.info)
        for llc in LLC_HEADERS:
            if info.startswith(llc):
                tree["llc"] = llc.hex()
                info = info[len(llc) :]
                break
        if info and "llc" in tree:
            tree["apdu"] = describe_apdu(info, keys)
        return tree
    if len(raw) >= HEADER_SIZE and int.from_bytes(raw[:2], "big") == WRAPPER_VERSION:
        decoder = WrapperDecoder()
        frames = decoder.feed(raw)
        if len(frames) != 1 or decoder.buffered:
            raise DecodeError(
                "wrapper length does not match the input", HEADER_SIZE if not frames else len(raw)
            )
        frame_w = frames[0]
        return {
            "frame": "wrapper",
            "wrapper": {"source": frame_w.source, "destination": frame_w.destination},
            "apdu": describe_apdu(frame_w.payload, keys),
        }
    return {"frame": "none", "apdu": describe_apdu(raw, keys)}


def to_xml(tree: Any, name: str = "Decoded", indent: int = 0) -> str:
    """Render a :func:`describe` tree as XML in the spirit of DLMS translators (element per field,
    values in a ``Value`` attribute, ``Qty`` on sequences)."""
    pad = "  " * indent
    tag = "".join(part.capitalize() for part in name.replace("_", "-").split("-")) or "Item"
    if not tag[0].isalpha():
        tag = "Item" + tag
    if isinstance(tree, dict):
        if "type" in tree and "value" in tree and len(tree) <= 3:
            kind = "".join(p.capitalize() for p in str(tree["type"]).split("-"))
            value = tree["value"]
            if isinstance(value, list):
                inner = "".join(to_xml(v, "item", indent + 2) for v in value)
                return (
                    f"{pad}<{tag}>\n{pad}  <{kind} Qty={quoteattr(str(len(value)))}>\n"
                    f"{inner}{pad}  </{kind}>\n{pad}</{tag}>\n"
                )
            return f"{pad}<{tag}>\n{pad}  <{kind} Value={quoteattr(str(value))} />\n{pad}</{tag}>\n"
        inner = "".join(to_xml(v, k, indent + 1) for k, v in tree.items())
        return f"{pad}<{tag}>\n{inner}{pad}</{tag}>\n"
    if isinstance(tree, list):
        inner = "".join(to_xml(v, "item", indent + 1) for v in tree)
        return f"{pad}<{tag} Qty={quoteattr(str(len(tree)))}>\n{inner}{pad}</{tag}>\n"
    return f"{pad}<{tag} Value={quoteattr(str(tree))} />\n"
