"""The web console: server-rendered pages (Jinja2, five languages) on the API's app and data.

`metra serve` finds `mount` here and calls it with the app and the API's context; tests and
other hosts call `make_mount(ConsoleSettings(...))`. See docs/console.md.
"""

from metra.console.access import PREFIX
from metra.console.app import make_mount, mount
from metra.console.state import ConsoleSettings

__all__ = ["PREFIX", "ConsoleSettings", "make_mount", "mount"]
