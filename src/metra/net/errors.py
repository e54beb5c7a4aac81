"""Errors of the I/O layer: the peer went away or did not answer in time."""

from __future__ import annotations

from metra.dlms.errors import DlmsError


class TransportError(DlmsError):
    """The connection failed, closed, or the link gave up."""


class ResponseTimeout(TransportError):
    """No answer within the deadline."""


class RequestRefused(DlmsError):
    """The meter answered a request with a refusal (a data-access or action result, an
    exception-response); ``result`` is the refusal as the meter gave it."""

    def __init__(self, what: str, result: object) -> None:
        self.result = result
        super().__init__(f"{what} refused: {result}")
