"""Typed failures of prepayment: bad input and refused operations, told apart from a missing row."""

from __future__ import annotations


class PrepayError(Exception):
    """Base of every failure prepayment raises on purpose."""


class InvalidAmount(PrepayError):
    """An amount, price or unit that cannot be kept as given (too many decimals, negative...)."""


class AccountNotFound(PrepayError):
    """No such account, or no open account at the delivery point named."""


class NotEligible(PrepayError):
    """The delivery point cannot use prepayment (profile, meter or an account already open)."""


class TariffNotFound(PrepayError):
    """No version of the tariff is valid on the day asked."""


class InstrumentRefused(PrepayError):
    """A payment instrument that is withdrawn (blacklisted), unknown or another account's.

    `rule` names why: ``withdrawn``, ``unknown`` or ``other_account``. The refusal is in the audit
    trail before this is raised, so the caller commits anyway (as with a refused log-in)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


class HubRefused(PrepayError):
    """A market-hub message that cannot be acted on; `rule` names why (``no_account``,
    ``retailer``, ``no_meter``, ``replay``, ``kind``)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


class NotifyFailed(PrepayError):
    """A notifier could not hand a notice over (server down, refused recipient, HTTP error)."""
