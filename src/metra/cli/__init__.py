"""The ``metra`` command line (Typer + Rich): a thin face over the library layers."""
