"""COSEM interface classes as data: numbering, enumerations and the value structures of their
attributes (Blue Book, IEC 62056-6-2), plus well-known OBIS codes. Behaviour lives in the meter."""
