"""asyncio transports that bind the sans-IO DLMS machines to TCP (wrapper or HDLC, optional TLS).

This is the only layer of the protocol stack that does I/O and reads clocks (for timeouts); all
protocol decisions stay in :mod:`metra.dlms`.
"""
