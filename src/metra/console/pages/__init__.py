"""The console's pages, one router per area."""

from metra.console.pages import admin, auth, consumer, dashboard, meters, substations, vee

ROUTERS = (
    auth.pages,
    dashboard.pages,
    meters.pages,
    substations.pages,
    vee.pages,
    admin.pages,
    consumer.pages,
)

__all__ = ["ROUTERS"]
