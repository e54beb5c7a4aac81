"""The one error a profile load raises, so callers can tell a bad profile from a bug."""

from __future__ import annotations


class ProfileError(ValueError):
    """A profile file that cannot be used: names the file, the field path and the problem.

    An operator editing a TOML file needs all three to fix it without reading our code.
    """

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        super().__init__(f"{source}: {field}: {problem}")
