"""The example app's own handlers: where the handlers of an app built on `receiver` go.

This package is not part of the installed distribution (that is `receiver` only); it shows
the layout of a project: `example_app.py` builds the receiver, and this package holds the
`CallHandler` subclasses it registers. Name yours however you like, `handlers` included.
"""

from __future__ import annotations

from handlers.support import Support

__all__ = ["Support"]
