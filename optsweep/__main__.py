"""``python -m optsweep``: the command line."""

from .cli import entry

entry()
