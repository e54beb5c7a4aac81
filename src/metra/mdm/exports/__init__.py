"""Exports of metering data to files (ACC-4, ACC-5, ACC-6).

Readings (intervals with their status and method, register and billing values) and events of a
meter, a group or a substation's members, for whole days in UTC or the profile's local time, as
CSV, fixed-width TXT, the project's XML (with a schema) or IEC 61968-9 MeterReadings /
EndDeviceEvents; the hourly wholesale report, signed with the operator's key where the profile
asks for it. Rows stream from the store meter by meter; every export is logged as a release in
the audit trail. `docs/exports.md` documents every file structure.
"""

from metra.mdm.exports.errors import ExportError, SignatureError
from metra.mdm.exports.records import Source
from metra.mdm.exports.release import Release, record_release
from metra.mdm.exports.run import Format, Kind, Request, Signer, export, wholesale_report
from metra.mdm.exports.selection import Period, Selection, group, one_meter, substation

__all__ = [
    "ExportError",
    "Format",
    "Kind",
    "Period",
    "Release",
    "Request",
    "Selection",
    "SignatureError",
    "Signer",
    "Source",
    "export",
    "group",
    "one_meter",
    "record_release",
    "substation",
    "wholesale_report",
]
