"""Facts both ends of an association share (Green Book: Association LN, HLS, block sizing)."""

from __future__ import annotations

#: Logical name of the *current* association object (Association LN, class 15).
CURRENT_ASSOCIATION = bytes((0, 0, 40, 0, 0, 255))
#: Interface class id of Association LN.
ASSOCIATION_LN_CLASS = 15
#: Association LN method 1, reply_to_HLS_authentication: carries HLS passes 3 and 4.
REPLY_TO_HLS_AUTHENTICATION = 1

#: Bytes kept free in every PDU for the service header and ciphering (general-glo-ciphering with
#: its system title, security header and 12-octet tag) when data are split into blocks.
BLOCK_OVERHEAD = 64
