"""The head-end: key store, meter import, scheduled collection, backfill, time sync and push.

It speaks DLMS as a client (``metra.net``) and keeps everything it reads or does in the
metering store (``metra.store``); the numbers it schedules by come from the jurisdiction profile.
"""
