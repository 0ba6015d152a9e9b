"""`vapi-receiver doctor`: what will happen to each message type, before a call is placed.

It reads the receiver's configuration and, optionally, Vapi's own JSON objects (phone
numbers, assistants, tools, the org, as the API returns them), then prints for every message
type which level's credential the receiver will demand, which level Vapi will send it from,
whether the assistant's `serverMessages` enable it, and what is wrong or risky. The analysis
is `receiver.diagnosis.diagnose`; this module reads files and prints. Secrets are masked.

Exit codes: 0 no errors (warnings allowed), 1 at least one error, 2 usage or configuration
errors (a file that cannot be read, is not JSON, or is not a Vapi object).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from receiver.cli import EXIT_FAILED, EXIT_OK
from receiver.cli._credentials import mask
from receiver.config import (
    CONFIG_PATH_ENV,
    ORG_SECRET_ENV,
    ReceiverConfig,
    config_from_env,
    load_config,
)
from receiver.credentials import VapiSecret
from receiver.diagnosis import Diagnosis, Row, Scenario, diagnose
from receiver.errors import ConfigError
from receiver.vapi_objects import Finding, ServerSetting, display_url
from receiver.verification import Level

_EXAMPLES: Final = """\
examples:
  vapi-receiver doctor --config vapi.toml
  vapi-receiver doctor --config vapi.toml --phone-number pn.json --assistant riley.json \\
      --tool lookup_order.json --org org.json --public-url https://abc123.ngrok.app/vapi
  curl -s -H "Authorization: Bearer $VAPI_API_KEY" https://api.vapi.ai/phone-number > pn.json

A file holds one object or a list of them, as `GET https://api.vapi.ai/<kind>[/<id>]` returns.
"""

_TYPE_WIDTH: Final = 30


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the configuration against Vapi's objects, message type by message type",
        description="For every message type: which level's credential the receiver will\n"
        "demand, which level Vapi sends it from (given Vapi's JSON objects), whether the\n"
        "assistant's serverMessages enable it, and what is wrong or risky. Secrets are\n"
        "masked. Exit 1 when there is an error, 2 when a file cannot be used.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"the receiver's TOML configuration (default: ${CONFIG_PATH_ENV}, else "
        f"${ORG_SECRET_ENV} as the org secret)",
    )
    for option, what in (
        ("--phone-number", "a phone number"),
        ("--assistant", "an assistant"),
        ("--tool", "a tool"),
    ):
        parser.add_argument(
            option,
            action="append",
            default=[],
            metavar="FILE",
            help=f"a JSON file with {what} object (or a list) from Vapi's API; repeatable",
        )
    parser.add_argument("--org", metavar="FILE", help="a JSON file with the org object")
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL Vapi reaches this receiver at (e.g. the tunnel's URL plus /vapi); "
        "server URLs pointing elsewhere are reported",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load everything, diagnose, print; the exit code says whether there were errors.

    Raises:
        ConfigError: a file cannot be read or used (the command exits with 2).
    """
    config = _config(args.config)
    diagnosis = diagnose(
        config,
        phone_numbers=_objects(args.phone_number, "a phone number"),
        assistants=_objects(args.assistant, "an assistant"),
        tools=_objects(args.tool, "a tool"),
        org=_single(args.org, "an org") if args.org else None,
        public_url=args.public_url,
    )
    if args.json:
        print(json.dumps(as_json(diagnosis), indent=2))
    else:
        sys.stdout.write(as_text(diagnosis))
    return EXIT_FAILED if diagnosis.errors else EXIT_OK


# -- reading files -----------------------------------------------------------------------------


def _config(path: str | None) -> ReceiverConfig:
    if path is not None:
        return load_config(path)
    config = config_from_env()
    if config is None:
        raise ConfigError(
            f"no configuration: pass --config FILE, or set ${CONFIG_PATH_ENV} or ${ORG_SECRET_ENV}"
        )
    return config


def _objects(paths: Iterable[str], what: str) -> list[dict[str, Any]]:
    return [obj for path in paths for obj in _read(path, what)]


def _single(path: str, what: str) -> dict[str, Any]:
    objects = _read(path, what)
    if len(objects) != 1:
        raise ConfigError(f"{path}: expected {what} object, found {len(objects)} objects")
    return objects[0]


def _read(path: str, what: str) -> list[dict[str, Any]]:
    """The objects in a file: one object, a list, or a page `{"results": [...]}`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("results"), list) and "id" not in data:
        data = data["results"]
    items = data if isinstance(data, list) else [data]
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            where = f"item {number}" if isinstance(data, list) else "the file"
            raise ConfigError(f"{path}: {where} is not {what} object (found {type(item).__name__})")
    return items


# -- text --------------------------------------------------------------------------------------


def as_text(diagnosis: Diagnosis) -> str:
    """The report for people: one table per scenario, then errors and warnings."""
    config = diagnosis.config
    lines = [f"vapi-receiver doctor: {config.source}", f"  credentials for: {_levels(config)}"]
    if diagnosis.public_url:
        lines.append(f"  public URL: {display_url(diagnosis.public_url)}")
    else:
        lines.append(
            "  public URL: not given; every server URL is taken to be this receiver "
            "(pass --public-url to check)"
        )
    for scenario in diagnosis.scenarios:
        lines += ["", scenario.title, *_table(scenario)]
    for title, findings in (("Errors", diagnosis.errors), ("Warnings", diagnosis.warnings)):
        if findings:
            lines += ["", f"{title} ({len(findings)})"]
            lines += [_wrapped(f"{f.subject}: {f.message}", "  - ") for f in findings]
    errors, warnings = len(diagnosis.errors), len(diagnosis.warnings)
    lines += ["", f"{_count(errors, 'error')}, {_count(warnings, 'warning')}"]
    return "\n".join(lines) + "\n"


def _table(scenario: Scenario) -> list[str]:
    requests = [r for r in scenario.rows if r.request]
    informational = [r for r in scenario.rows if not r.request]
    header = ("TYPE", "RECEIVER EXPECTS", "VAPI SENDS FROM", "SENT", "CHECK")
    groups = [
        ("Requests (Vapi waits for the answer)", [([_name(r)], r) for r in requests]),
        ("Informational (answered 200 {} at once)", _grouped(informational)),
    ]
    cells = [
        (names, _expects(row.levels), _sender(row), row.sent, row.check)
        for _, rows in groups
        for names, row in rows
    ]
    widths = [max(len(header[i]), *(len(c[i]) for c in cells)) for i in (1, 2, 3)]
    lines = []
    for title, rows in groups:
        lines += [f"  {title}", "    " + _line(header, widths)]
        for names, row in rows:
            first, *rest = _wrap_names(names)
            cell = (first, _expects(row.levels), _sender(row), row.sent, row.check)
            lines.append("    " + _line(cell, widths))
            lines += ["    " + name for name in rest]
    return lines


def _grouped(rows: Sequence[Row]) -> list[tuple[list[str], Row]]:
    """Informational rows with the same outcome share a line: there are 30-odd of them."""
    groups: dict[tuple[str, str, str, str], tuple[list[str], Row]] = {}
    for row in rows:
        key = (_expects(row.levels), _sender(row), row.sent, row.check)
        groups.setdefault(key, ([], row))[0].append(_name(row))
    return list(groups.values())


def _wrap_names(names: list[str]) -> list[str]:
    return textwrap.wrap(", ".join(names), _TYPE_WIDTH, break_on_hyphens=False) or [""]


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    first, expects, sender, sent, check = cells
    return (
        f"{first:<{_TYPE_WIDTH}}  {expects:<{widths[0]}}  {sender:<{widths[1]}}  "
        f"{sent:<{widths[2]}}  {check}"
    ).rstrip()


def _name(row: Row) -> str:
    return row.message_type + (f" ({row.tool})" if row.tool else "")


def _expects(levels: Sequence[Level]) -> str:
    """`phone number "pn-1": x-vapi-secret ****efgh`; secrets masked, others described."""
    if not levels:
        return "nothing applies (401)"
    return " and ".join(f"{_short_level(level)}: {_credentials(level)}" for level in levels)


def _short_level(level: Level) -> str:
    return "org" if level.kind == "org" and not level.key else f'{level.kind} "{level.key}"'


def _credentials(level: Level) -> str:
    shown = []
    for credential in level.config.accepted:
        if isinstance(credential, VapiSecret):
            shown.append(f"{credential.scheme} " + " or ".join(map(mask, credential.secrets)))
        else:
            shown.append(credential.describe())
    return " or ".join(shown)


def _sender(row: Row) -> str:
    route = row.route
    setting = route.setting
    if route.status == "here" and setting is not None:
        return f"{_short_setting(setting)} ({_sends(setting)})"
    if route.status == "elsewhere" and setting is not None:
        return f"{_short_setting(setting)} -> {route.note}"
    return f"? {route.note}" if route.status == "unknown" else f"- ({route.note})"


def _short_setting(setting: ServerSetting) -> str:
    if setting.kind == "org":
        return "org"
    return f'{setting.kind} "{setting.keys[0]}"' if setting.keys else setting.label


def _sends(setting: ServerSetting) -> str:
    """What Vapi attaches, without a value: `secret`, `credential cred-1`, `nothing`."""
    if setting.transient:
        return "nothing: inline"
    parts = ["secret"] if setting.secrets else []
    if setting.credential_id:
        parts.append(f"credential {setting.credential_id}")
    parts += [f"header {name}" for name in setting.auth_headers]
    if setting.redacted:
        parts.append("[REDACTED]")
    return ", ".join(parts) or "nothing"


def _levels(config: ReceiverConfig) -> str:
    parts = [
        _count(len(entries), name)
        for name, entries in (
            ("tool", config.tools),
            ("feature", config.features),
            ("assistant", config.assistants),
            ("phone number", config.phone_numbers),
            ("org id", config.orgs),
        )
        if entries
    ]
    if config.org:
        parts.append("org")
    if config.insecure:
        parts.append("INSECURE (nothing is checked)")
    return ", ".join(parts) or "nothing"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _wrapped(text: str, bullet: str) -> str:
    return textwrap.fill(text, 100, initial_indent=bullet, subsequent_indent=" " * len(bullet))


# -- JSON --------------------------------------------------------------------------------------


def as_json(diagnosis: Diagnosis) -> dict[str, Any]:
    """The report for scripts; the same facts as the text, secrets masked the same way."""
    return {
        "config": diagnosis.config.source,
        "public_url": display_url(diagnosis.public_url) if diagnosis.public_url else None,
        "ok": not diagnosis.errors,
        "errors": len(diagnosis.errors),
        "warnings": len(diagnosis.warnings),
        "scenarios": [
            {"title": s.title, "rows": [_row_json(row) for row in s.rows]}
            for s in diagnosis.scenarios
        ],
        "findings": [_finding_json(f) for f in diagnosis.findings],
    }


def _row_json(row: Row) -> dict[str, Any]:
    setting = row.route.setting
    return {
        "type": row.message_type,
        "tool": row.tool,
        "category": "request" if row.request else "informational",
        "receiver": [
            {"level": level.kind, "key": level.key, "expects": _credentials(level)}
            for level in row.levels
        ],
        "vapi": {
            "status": row.route.status,
            "level": setting.kind if setting else None,
            "key": setting.keys[0] if setting and setting.keys else None,
            "url": display_url(setting.url) if setting and setting.url else None,
            "sends": _sends(setting) if setting else None,
            "note": row.route.note,
        },
        "sent": row.sent,
        "check": row.check,
    }


def _finding_json(finding: Finding) -> dict[str, str]:
    return {
        "severity": finding.severity,
        "code": finding.code,
        "subject": finding.subject,
        "message": finding.message,
    }
