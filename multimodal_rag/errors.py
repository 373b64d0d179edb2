"""The base of the errors a person can act on: raised on purpose, with a message that says what happened and what
to do.

Each layer defines its own (``CatalogError``, ``StoreError``, ...) as a subclass, so the CLI and the server tell
them from bugs without importing the layers that raise them: the CLI prints them as one line (no traceback
without ``--verbose``); the server answers them as JSON with a 4xx. ``config.ConfigError`` (a ``ValueError``)
and a missing file count too.
"""

from __future__ import annotations


class UserError(Exception):
    """An error a person can act on; its message says what to do."""
