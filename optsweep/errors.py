"""Exceptions: one root, and a configuration error the command line reports
in one line with exit code 2."""


class OptsweepError(Exception):
    """Root of optsweep's own errors."""


class ConfigError(OptsweepError, ValueError):
    """A sweep file or command-line value is invalid.

    The message is complete on its own: it names the file, the key path and
    the value, e.g. ``sweeps/x.toml: search.lr.low must be > 0 for a log
    range (got 0)``.
    """
