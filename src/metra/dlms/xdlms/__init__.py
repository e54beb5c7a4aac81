"""xDLMS application-layer APDUs (IEC 62056-5-3, DLMS UA Green Book).

The service APDUs (GET, SET, ACTION, DataNotification, EventNotification) live in one module per
service and are turned into bytes and back by :mod:`.codec`. Everything here is sans-IO: values in,
bytes out, and a bounded decoder that answers malformed input with a typed ``DecodeError``.
"""
