"""The DLMS/COSEM protocol core (IEC 62056), sans-IO: bytes in, events out.

Nothing here opens a socket, reads a clock or touches a database; the head-end (client) and the
virtual meter (server) drive the same machines from their own I/O layers (:mod:`metra.net`).
"""
