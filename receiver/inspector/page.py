"""The inspector's page: server-rendered HTML, one small script, one style sheet.

No build step and nothing from a CDN, so it works offline. Every value that came in a
request is escaped where the HTML is rendered and set as text (never as markup) by the
script, and the Content-Security-Policy allows only this page's own script and style.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from importlib.resources import files
from typing import Final

from receiver.inspector.journal import Exchange


def render_page(exchanges: Sequence[Exchange], token: str, webhook_path: str, keep: int) -> str:
    """The page, with the deliveries kept so far, newest first."""
    rows = "\n".join(_row(exchange) for exchange in reversed(exchanges))
    return _PAGE.format(
        token=html.escape(token),
        path=html.escape(webhook_path),
        keep=keep,
        rows=rows,
    )


def _row(exchange: Exchange) -> str:
    summary = exchange.summary()
    cells = [
        time.strftime("%H:%M:%S", time.localtime(exchange.at))
        + f".{int(exchange.at % 1 * 1000):03d}",
        summary["type"] or "-",
        summary["call_id"] or "-",
        summary["level"] or "-",
        summary["verification"] + (f" ({summary['reason']})" if summary["reason"] else ""),
        str(summary["status"] or "-"),
        "-" if summary["latency_ms"] is None else f"{summary['latency_ms']} ms",
    ]
    attributes = {
        "data-id": str(exchange.id),
        "data-at": str(exchange.at),
        "data-type": summary["type"] or "",
        "data-call": summary["call_id"] or "",
        "data-status": str(summary["status"] or ""),
        "class": _status_class(summary["status"]),
    }
    attrs = " ".join(f'{name}="{html.escape(value)}"' for name, value in attributes.items())
    tds = "".join(f'<td title="{html.escape(cell)}">{html.escape(cell)}</td>' for cell in cells)
    return f"<tr {attrs}>{tds}</tr>"


def _status_class(status: int | None) -> str:
    if status is None:
        return "status-none"
    return "status-ok" if status < 300 else "status-refused" if status < 500 else "status-error"


def _asset(name: str) -> str:
    return (files("receiver.inspector") / "static" / name).read_text(encoding="utf-8")


_PAGE: Final = _asset("page.html")
SCRIPT: Final = _asset("app.js")
STYLE: Final = _asset("app.css")
