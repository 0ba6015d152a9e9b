"""`vapi-receiver link`: point a Vapi phone number, assistant or org at a server URL.

A mismatch between the secret in Vapi and the one in the receiver's configuration is the
most common reason a call fails with "server error". `link` sets both from one command: it
makes a strong secret (or, with `--keep-secret`, reuses the configured one), sets the URL
and the secret on the object through Vapi's API, writes the secret into the object's table
of the configuration file, then sends a signed message through the URL to prove it. With
`--buy` it first buys a number, with the secret already on it.

Order matters, so that a failure leaves nothing half changed: the file is checked and the
new text staged before Vapi is called, and moved into place only once Vapi has accepted the
change. A failed check says so and leaves the link in place. The secret is written to the
configuration file and nowhere else: it is never printed.

Exit codes: 0 linked (and checked), 1 Vapi refused, could not be reached, or the check
failed, 2 usage or configuration errors.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import sys
from typing import Any, Final

from receiver.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from receiver.cli._config_edit import ConfigEdit, TablePath, table_name
from receiver.cli._http import check_url
from receiver.cli._link_session import SessionLink, signals_deferred, state_directory
from receiver.cli._server_fields import ID, KINDS, CredentialInUse, Kind, carries, link_body
from receiver.cli._vapi_api import (
    API_KEY_ENV,
    API_URL_ENV,
    DEFAULT_TIMEOUT_S,
    ApiError,
    ApiUnreachable,
    VapiApi,
)
from receiver.config import CONFIG_PATH_ENV
from receiver.errors import ConfigError
from receiver.vapi_objects import display_url

DEFAULT_CONFIG: Final = "vapi.toml"
AREA_CODE_LENGTH: Final = 3
"""Vapi's `areaCode`: exactly 3 characters (and area codes are digits)."""
MAX_NAME_LENGTH: Final = 40
"""Vapi's limit for a phone number's `name`."""
SECRET_BYTES: Final = 32
"""256 bits of randomness, 43 URL-safe characters."""

_EXAMPLES: Final = f"""\
examples:
  vapi-receiver link --buy --area-code 415 --name "Support line" --config vapi.toml
  vapi-receiver link --phone-number PHONE_NUMBER_ID --url https://receiver.example.com/vapi
  vapi-receiver link --assistant ASSISTANT_ID --url https://receiver.example.com/vapi --keep-secret
  vapi-receiver link --org --url https://receiver.example.com/vapi
  vapi-receiver link --restore --phone-number PHONE_NUMBER_ID

The API key is read from ${API_KEY_ENV}; ${API_URL_ENV} changes the API's address.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "link",
        help="set a phone number's, assistant's or org's server URL and secret, and the config's",
        description="Set the server URL and a new secret on a Vapi phone number, assistant or "
        "org through Vapi's API, write the secret into the configuration file, and check the "
        "link with a signed message through the URL. --buy buys a number first.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--phone-number", metavar="ID", help="the phone number's id")
    target.add_argument("--assistant", metavar="ID", help="the assistant's id")
    target.add_argument(
        "--org",
        nargs="?",
        const="",
        metavar="ID",
        help="the org (its id, or the one org the API key belongs to)",
    )
    target.add_argument("--buy", action="store_true", help="buy a new phone number")
    parser.add_argument("--url", help="the server URL, e.g. https://receiver.example.com/vapi")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"the receiver's TOML configuration to write the secret into (default: "
        f"${CONFIG_PATH_ENV}, else {DEFAULT_CONFIG}); created when missing",
    )
    parser.add_argument(
        "--keep-secret",
        action="store_true",
        help="reuse the secret the configuration has for it instead of making a new one",
    )
    parser.add_argument(
        "--no-check", action="store_true", help="do not send a signed message through the URL"
    )
    parser.add_argument(
        "--replace-credential",
        action="store_true",
        help="if it authenticates with a Custom Credential (credentialId), drop that from it "
        "and send an x-vapi-secret instead",
    )
    parser.add_argument(
        "--restore",
        action="store_true",
        help="put back what it had before a `serve --link` session that could not restore it",
    )
    buying = parser.add_argument_group("--buy")
    buying.add_argument("--area-code", metavar="NNN", help="the number's area code, e.g. 415")
    buying.add_argument("--name", help=f"a name for the number (at most {MAX_NAME_LENGTH})")
    buying.add_argument("--assistant-id", metavar="ID", help="the assistant that answers it")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"for each API request (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if problem := _usage_problem(args):
        print(f"vapi-receiver link: {problem}", file=sys.stderr)
        return EXIT_USAGE
    api = VapiApi.from_env(os.environ, timeout=args.timeout)
    with api:
        try:
            if args.restore:
                return _restore(api, args)
            if args.buy:
                return _buy(api, args)
            return _link(api, args)
        except ApiError as exc:
            print(f"vapi-receiver link: Vapi refused: {exc}", file=sys.stderr)
        except ApiUnreachable as exc:
            print(f"vapi-receiver link: no answer from Vapi: {exc}", file=sys.stderr)
        except CredentialInUse as exc:
            print(f"vapi-receiver link: {exc}", file=sys.stderr)
        except KeyboardInterrupt:  # never while Vapi or the file are being changed
            print("vapi-receiver link: interrupted", file=sys.stderr)
    return EXIT_FAILED


def _usage_problem(args: argparse.Namespace) -> str | None:
    buy_options = [args.area_code, args.name, args.assistant_id]
    if not args.buy and any(option is not None for option in buy_options):
        return "--area-code, --name and --assistant-id go with --buy"
    if args.buy:
        if args.keep_secret or args.restore or args.replace_credential:
            return "--buy takes no --keep-secret, --restore or --replace-credential"
        return _buy_problem(args)
    for value in (args.phone_number, args.assistant, args.org):
        if value and not ID.fullmatch(value):
            return f"{value!r} is not an id (letters, digits, - and _)"
    if args.restore:
        if args.org == "":
            return "--restore --org needs the org's id"
        return None
    if not args.url:
        return "give the server URL with --url"
    return check_url(args.url)


def _buy_problem(args: argparse.Namespace) -> str | None:
    code = args.area_code
    if code is None:
        return "--buy needs --area-code (e.g. 415)"
    if len(code) != AREA_CODE_LENGTH or not code.isascii() or not code.isdigit():
        return f"--area-code must be exactly {AREA_CODE_LENGTH} digits, e.g. 415 (got {code!r})"
    if args.name is not None and not args.name.strip():
        return "--name must not be blank"
    if args.name is not None and len(args.name) > MAX_NAME_LENGTH:
        return f"--name is {len(args.name)} characters long; Vapi allows at most {MAX_NAME_LENGTH}"
    if args.assistant_id is not None and not ID.fullmatch(args.assistant_id):
        return f"--assistant-id {args.assistant_id!r} is not an id"
    return check_url(args.url) if args.url else None


def _config_path(args: argparse.Namespace) -> str:
    return str(args.config or os.environ.get(CONFIG_PATH_ENV) or DEFAULT_CONFIG)


def _target(api: VapiApi, args: argparse.Namespace) -> tuple[Kind, str]:
    if args.phone_number:
        return KINDS["phone-number"], args.phone_number
    if args.assistant:
        return KINDS["assistant"], args.assistant
    if args.org:
        return KINDS["org"], args.org
    orgs = api.orgs()
    ids = [str(org.get("id")) for org in orgs if org.get("id")]
    if len(ids) != 1:
        found = ", ".join(ids) or "none"
        raise ConfigError(f"the API key sees {len(ids)} orgs ({found}): name one with --org ID")
    if not ID.fullmatch(ids[0]):
        raise ConfigError(f"the org's id {ids[0]!r} is not usable as a configuration key")
    return KINDS["org"], ids[0]


def _table(kind: Kind, object_id: str, edit: ConfigEdit) -> TablePath:
    """The level's table: `[orgs.<id>]` only where the file already keys the org by id."""
    if kind.path == "org" and not edit.has(("orgs", object_id)):
        return ("org",)
    return (kind.table, object_id)


def _link(api: VapiApi, args: argparse.Namespace) -> int:
    kind, object_id = _target(api, args)
    path = _config_path(args)
    edit = ConfigEdit.open(path)
    table = _table(kind, object_id, edit)
    if args.keep_secret:
        secret = edit.secret(table)
        if secret is None:
            raise ConfigError(f"--keep-secret: {path} has no secret in {table_name(table)}")
    else:
        secret = secrets.token_urlsafe(SECRET_BYTES)
        edit.set_secret(table, secret)
    obj = api.get(kind.path, object_id)
    body = link_body(kind, obj, args.url, secret, replace_credential=args.replace_credential)
    subject = f"{kind.label} {object_id}" + _named(obj)
    with signals_deferred():  # Vapi and the file change together, or neither does
        staged = None if args.keep_secret else edit.stage()
        try:
            api.update(kind.path, object_id, body)
        except ApiUnreachable as exc:
            if not _applied(api, kind, object_id, args.url, secret):
                if staged is not None:
                    staged.discard()
                print(
                    f"vapi-receiver link: no answer from Vapi ({exc}). {path} is unchanged; "
                    f"if {subject} was changed anyway, run the same command again: it sets a "
                    "new secret on both",
                    file=sys.stderr,
                )
                return EXIT_FAILED
        except BaseException:
            if staged is not None:
                staged.discard()
            raise
        if staged is not None:
            try:
                staged.commit()
            except OSError as exc:
                print(
                    f"vapi-receiver link: Vapi has the new secret, but {path} could not be "
                    f"replaced ({exc}). The new configuration is in {staged.temporary}: move "
                    f"it over {path}, or run the same command again for a new secret",
                    file=sys.stderr,
                )
                return EXIT_FAILED
    where = "its secret" if args.keep_secret else "a new secret"
    print(f"Linked {subject} to {display_url(args.url)} with {where}.")
    if not args.keep_secret:
        print(f"The secret is in {table_name(table)} of {path} (and nowhere else).")
    _notes(edit, table, args.url, path)
    if args.no_check:
        return EXIT_OK
    return _check(args.url, path, kind, object_id, table)


def _applied(api: VapiApi, kind: Kind, object_id: str, url: str, secret: str) -> bool:
    """After an answer was lost: whether Vapi made the change anyway."""
    try:
        return carries(api.get(kind.path, object_id), kind, url, secret)
    except (ApiError, ApiUnreachable):
        return False


def _notes(edit: ConfigEdit, table: TablePath, url: str, path: str) -> None:
    if others := edit.other_secrets(table):
        print(
            f"note: {table_name(table)} also lists {others} secret(s) in `secrets`, which the "
            f"receiver still accepts; remove them from {path} when no longer needed"
        )
    if url.lower().startswith("http://"):
        print("note: the URL is plain http: the secret crosses the network unencrypted")


def _check(url: str, path: str, kind: Kind, object_id: str, table: TablePath) -> int:
    """A signed status-update through the URL, from the level just linked, checked by `send`."""
    from receiver.cli import build_parser  # the package imports this module's siblings

    argv = ["send", "status-update", "--url", url, "--config", path, "--set", "call_id=link-check"]
    if kind.path == "phone-number":
        argv += ["--phone-number-id", object_id]
    elif kind.path == "assistant":
        argv += ["--assistant-id", object_id]
    elif table[0] == "orgs":
        argv += ["--set", f"org_id={object_id}"]
    print("Checking the link with a signed message through the URL:")
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    if code != EXIT_OK:
        print(
            "The link is in place, but the check failed. If the receiver at that URL was "
            f"started before this link, restart it so that it reads {path}, then check again:"
            f"\n  vapi-receiver {' '.join(_quoted(argv))}",
            file=sys.stderr,
        )
    return code


def _buy(api: VapiApi, args: argparse.Namespace) -> int:
    path = _config_path(args)
    ConfigEdit.open(path).stage().discard()  # a file that can be read and replaced
    secret = secrets.token_urlsafe(SECRET_BYTES)
    body: dict[str, Any] = {"areaCode": args.area_code, "serverUrlSecret": secret}
    if args.name is not None:
        body["name"] = args.name
    if args.assistant_id is not None:
        body["assistantId"] = args.assistant_id
    if args.url:
        body["serverUrl"] = args.url
    with signals_deferred():
        try:
            number = api.buy_phone_number(body)
        except ApiUnreachable as exc:
            print(
                f"vapi-receiver link: no answer from Vapi ({exc}): the number may or may not "
                "have been bought. Look at your phone numbers in the dashboard (or GET "
                "/phone-number) before trying again, or you may buy two.",
                file=sys.stderr,
            )
            return EXIT_FAILED
        number_id = str(number.get("id", ""))
        if not ID.fullmatch(number_id):
            print(f"vapi-receiver link: Vapi's answer has no usable id: {number_id!r}")
            return EXIT_FAILED
        table = ("phone_numbers", number_id)
        try:
            edit = ConfigEdit.open(path)
            edit.set_secret(table, secret)
            edit.stage().commit()
        except (ConfigError, OSError) as exc:
            print(
                f"vapi-receiver link: bought phone number {number_id}, but could not write "
                f"{path}: {exc}\nIts secret was not saved. Fix the file, then give the number "
                f"a new secret:\n  vapi-receiver link --phone-number {number_id} --url URL "
                f"--config {path}",
                file=sys.stderr,
            )
            return EXIT_FAILED
    print(
        f"Bought {number.get('number') or 'a number'}: phone number id {number_id}" + _named(number)
    )
    print(f"Its secret is in {table_name(table)} of {path} (and nowhere else).")
    if not args.url:
        print(
            "It has no server URL yet. Serve your receiver with it for this session:\n"
            f"  VAPI_RECEIVER_CONFIG={path} vapi-receiver serve APP --tunnel cloudflared "
            f"--link {number_id}\nor point it at a deployed receiver:\n"
            f"  vapi-receiver link --phone-number {number_id} --url URL --keep-secret "
            f"--config {path}"
        )
        return EXIT_OK
    if args.no_check:
        return EXIT_OK
    return _check(args.url, path, KINDS["phone-number"], number_id, table)


def _restore(api: VapiApi, args: argparse.Namespace) -> int:
    kind, object_id = _target(api, args)
    session = SessionLink.resume(api, kind, object_id, directory=state_directory(), out=sys.stdout)
    if session is None:
        print(f"Nothing to restore: no session left {kind.label} {object_id} linked.")
        return EXIT_OK
    with signals_deferred():
        return EXIT_OK if session.put_back() else EXIT_FAILED


def _named(obj: dict[str, Any]) -> str:
    name = obj.get("name")
    return f' ("{name}")' if isinstance(name, str) and name else ""


def _quoted(argv: list[str]) -> list[str]:
    return [shlex.quote(part) for part in argv]
