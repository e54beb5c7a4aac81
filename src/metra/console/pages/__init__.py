"""The console's pages, one router per area."""

from metra.console.pages import (
    admin,
    approvals,
    auth,
    commands,
    consumer,
    customer_info,
    dashboard,
    meters,
    prepayment,
    substations,
    vee,
)

ROUTERS = (
    auth.pages,
    dashboard.pages,
    meters.pages,
    substations.pages,
    vee.pages,
    commands.pages,
    approvals.pages,
    prepayment.pages,
    admin.pages,
    consumer.pages,
    customer_info.pages,
)

__all__ = ["ROUTERS"]
