"""`vapi-receiver serve APP`: run a receiver with uvicorn, optionally behind a tunnel.

The `stripe listen` of this package. With `--tunnel ngrok|cloudflared` it starts the
tunnel, reads the public URL, and prints exactly what to paste into Vapi: the server URL,
the `server` JSON for a phone number or assistant, and which credential the receiver will
expect at which level (secrets masked). The tunnel is stopped when the server stops, and
the server when the tunnel ends. `--link PHONE_NUMBER_ID` also points that Vapi number at
the tunnel for the session and restores it on exit (`_link_session`). `--inspect` serves
the live inspector at `/_inspect` (`receiver.inspector`), to this machine only.
Exit 0 when the server stops, 1 when the tunnel fails, 2 for usage errors: a bad APP, a
missing tunnel program, or a port already in use (checked before the app is loaded).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import Any, Final

import uvicorn
from pydantic import BaseModel

from receiver.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from receiver.cli._credentials import mask
from receiver.cli._link_session import LinkFailed, LinkRefused, open_session
from receiver.cli._tunnel import DEFAULT_WAIT_S, PROGRAMS, Tunnel, TunnelFailed
from receiver.cli._vapi_api import ApiError, ApiUnreachable
from receiver.config import LevelConfig, ReceiverConfig
from receiver.inspector.app import DEFAULT_KEEP
from receiver.locate import Located, locate
from receiver.verification import SECRET_HEADER, Level, LevelKind

#: For `--reload`: uvicorn re-imports the app in a child process, through `reload_app`.
APP_ENV: Final = "VAPI_RECEIVER_SERVE_APP"
_DEFAULT_PATH: Final = "/vapi"
_ANY_ADDRESS: Final = frozenset({"0.0.0.0", "::", ""})
#: uvicorn's exit status when the app could not start.
_STARTUP_FAILURE: Final = 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run a receiver with uvicorn, optionally behind an ngrok or cloudflared tunnel",
        description="Serve APP with uvicorn and print the server URL and credential to set "
        "in Vapi. With --tunnel, start ngrok or cloudflared (it must be on PATH), print its "
        "public https URL, and stop it on exit.",
    )
    parser.add_argument(
        "app", metavar="APP", help="module:attribute of a Receiver or an ASGI app (my_app:app)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument("--reload", action="store_true", help="restart when the code changes")
    parser.add_argument("--tunnel", choices=sorted(PROGRAMS), help="expose the server over https")
    parser.add_argument(
        "--tunnel-wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help=f"how long to wait for the tunnel's URL (default {DEFAULT_WAIT_S:g})",
    )
    parser.add_argument(
        "--link",
        metavar="PHONE_NUMBER_ID",
        help="with --tunnel: point this Vapi phone number at the tunnel for the session, with "
        "the secret the receiver's configuration has for it, and restore it on exit "
        "(needs $VAPI_API_KEY)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --link: take the number over even if its URL was not set by a serve session",
    )
    parser.add_argument(
        "--inspect",
        action="store_true",
        help="serve the live inspector at /_inspect: every delivery, its answer, replay "
        "(development; this machine only)",
    )
    parser.add_argument(
        "--inspect-keep",
        type=int,
        default=DEFAULT_KEEP,
        metavar="N",
        help=f"deliveries the inspector keeps (default {DEFAULT_KEEP}; 64 MiB at most)",
    )
    parser.add_argument(
        "--inspect-allow-remote",
        action="store_true",
        help="serve the inspector to other machines too, and through tunnels (trusted "
        "networks only: it shows whole deliveries)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="default info",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Before the app is imported or started: uvicorn would find the port taken only after
    # the app's start-up had run (recovery, tunnel), then exit with its own code 3.
    if problem := _inspect_problem(args) or port_problem(args.host, args.port):
        print(f"vapi-receiver serve: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.link and not args.tunnel:
        print(
            f"vapi-receiver serve: --link needs --tunnel: Vapi cannot reach {args.host}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    located = locate(args.app)
    if args.inspect and located.receiver is None:
        print(
            f"vapi-receiver serve: --inspect needs a Receiver, and {args.app} is another ASGI "
            "app: name the Receiver (my_app:receiver) or its app (my_app:receiver.app)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    path = located.receiver.path if located.receiver else _DEFAULT_PATH
    host = "127.0.0.1" if args.host in _ANY_ADDRESS else args.host
    local_url = f"http://{host}:{args.port}"
    if not args.tunnel:
        print("\n".join(local_setup(args, local_url, path, located)), flush=True)
        _serve(args, located)
        return EXIT_OK
    # From here on SIGTERM unwinds like Ctrl-C: the tunnel is stopped and a link restored.
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.ExitStack() as cleanup:
        try:
            link = None
            if args.link:
                config = located.receiver.config if located.receiver else None
                link, secret = open_session(args.link, config, force=args.force, out=sys.stdout)
                cleanup.callback(link.api.close)
            tunnel = cleanup.enter_context(
                Tunnel(args.tunnel, local_url, wait=args.tunnel_wait, on_exit=_tunnel_ended)
            )
            assert tunnel.public_url is not None
            server_url = tunnel.public_url + path
            if link is not None:
                cleanup.enter_context(link.linked(server_url, secret))
            lines = [f"Tunnel: {args.tunnel} {tunnel.public_url} -> {local_url}"]
            lines += vapi_setup(server_url, located, linked=link is not None)
            lines += _inspector_line(args, local_url)
            print("\n".join(lines), flush=True)
            _serve(args, located)
        except LinkRefused as exc:
            print(f"vapi-receiver serve: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except (TunnelFailed, LinkFailed, ApiError, ApiUnreachable) as exc:
            print(f"vapi-receiver serve: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except KeyboardInterrupt:  # before the server ran; the tunnel is stopped, a link restored
            print("vapi-receiver serve: interrupted", file=sys.stderr)
            return EXIT_FAILED
    if tunnel.died:
        print(f"vapi-receiver serve: {args.tunnel} exited; the server was stopped", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _tunnel_ended() -> None:
    """The tunnel program ended on its own: stop serving as SIGTERM would (restoring a link)."""
    os.kill(os.getpid(), signal.SIGTERM)


def port_problem(host: str, port: int) -> str | None:
    """Why uvicorn could not listen on `host:port`, or `None` when it can.

    Binds the way uvicorn does (with `SO_REUSEADDR`, so a port in TIME_WAIT is free).
    """
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return f"cannot listen on {host}:{port}: {reason}; stop what uses it or pick --port"
    return None


def local_setup(args: argparse.Namespace, local_url: str, path: str, located: Located) -> list[str]:
    """What to print without a tunnel: the local URL, and how to make it reachable."""
    return [
        f"Serving {args.app} at {local_url}{path}  (health: {local_url}/health)",
        "Vapi cannot reach this address. To expose it over https, run:",
        f"  vapi-receiver serve {args.app} --port {args.port} --tunnel ngrok   (or cloudflared)",
        f"or start a tunnel yourself (ngrok http {args.port}, or cloudflared tunnel --url "
        f"{local_url}) and give Vapi its https URL followed by {path}.",
        *credential_lines(located),
        f"Try it: {_try_command(local_url + path, located)}",
        *_inspector_line(args, local_url),
    ]


def _inspector_line(args: argparse.Namespace, local_url: str) -> list[str]:
    if not getattr(args, "inspect", False):
        return []
    return [f"Inspector: {local_url}/_inspect  (every delivery, live)"]


def vapi_setup(server_url: str, located: Located, *, linked: bool = False) -> list[str]:
    """What to paste into Vapi for `server_url`, and the credentials the receiver expects."""
    if linked:  # `--link` set it already
        return [
            f"Server URL for Vapi: {server_url}",
            *credential_lines(located),
            f"Try it: {_try_command(server_url, located)}",
        ]
    config = located.receiver.config if located.receiver else None
    server: dict[str, object] = {"url": server_url}
    uses_secrets = config is None or any(level.config.secrets for level in _levels(config))
    if config is not None and config.insecure:
        hint = "  (insecure mode: no credential is checked)"
    elif uses_secrets:
        server["headers"] = {SECRET_HEADER: "<the secret of that level>"}
        hint = (
            '  (instead of "headers", a Custom Credential works too: Bearer, header name '
            f"{SECRET_HEADER}, prefix off, as server.credentialId)"
        )
    else:
        server["credentialId"] = "<the Custom Credential of that level>"
        hint = "  (a Bearer, HMAC or OAuth2 Custom Credential matching the level's entry below)"
    return [
        f"Server URL for Vapi: {server_url}",
        "Set it on the org, phone number, assistant or tool whose messages should come here:",
        f"  {json.dumps({'server': server})}",
        hint,
        *credential_lines(located),
        f"Try it: {_try_command(server_url, located)}",
    ]


def credential_lines(located: Located) -> list[str]:
    """Which header and (masked) secret the receiver accepts, level by level."""
    if located.receiver is None:
        return [f"Credentials: unknown ({type(located.app).__name__} is not a Receiver's app)."]
    config = located.receiver.config
    if config.insecure:
        return [
            "INSECURE: messages are accepted without any credential; anyone who finds the "
            "URL can call your handlers."
        ]
    rows = [(level.describe(), _accepted(level.config)) for level in _levels(config)]
    width = max((len(name) for name, _ in rows), default=0)
    return [
        "For each message the receiver accepts only a credential of the level that wins "
        "(tool > assistant > phone number > org):",
        *(f"  {name:<{width}}  {accepted}" for name, accepted in rows),
        "A 401 answer explains the refusal in full here; deployed, it names only the scheme "
        "expected and the log explains.",
    ]


def _accepted(level: LevelConfig) -> str:
    """`x-vapi-secret ****abcd, ****efgh; Bearer token in authorization`: never a secret."""
    shown = [f"{SECRET_HEADER} {', '.join(map(mask, level.secrets))}"] if level.secrets else []
    return "; ".join(shown + [credential.describe() for credential in level.credentials])


def reload_app() -> object:
    """The app named by `$VAPI_RECEIVER_SERVE_APP`, for uvicorn's `--reload` child process."""
    _configure_logging(os.environ.get(APP_ENV + "_LOG_LEVEL", "info"))
    inspect = os.environ.get(APP_ENV + "_INSPECT", "")
    keep, _, remote = inspect.partition(":")
    return _development(
        locate(os.environ[APP_ENV]),
        inspect=int(keep) if keep else None,
        allow_remote=remote == "remote",
    )


def _development(
    located: Located, *, inspect: int | None = None, allow_remote: bool = False
) -> Any:
    """The app, its 401 answers explained in full: `serve` is for development; with
    `inspect` (deliveries to keep), wrapped in the inspector."""
    if located.receiver is None:
        return located.app
    located.receiver.core.explain_refusals = True
    if inspect is None:
        return located.app
    from receiver.inspector import Inspector  # only `serve --inspect` loads it

    return Inspector(located.receiver, keep=inspect, allow_remote=allow_remote)


def _inspect_problem(args: argparse.Namespace) -> str | None:
    """Why `--inspect` cannot be served as asked, or `None`."""
    if not args.inspect:
        return None
    if args.inspect_keep < 1:
        return "--inspect-keep must be at least 1"
    if args.inspect_allow_remote:
        return None
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        return (
            f"--inspect shows whole deliveries, so it is served on a loopback address only, "
            f"not {args.host}: use --host 127.0.0.1, or add --inspect-allow-remote on a "
            "trusted network"
        )
    return None


def _serve(args: argparse.Namespace, located: Located) -> None:
    _configure_logging(args.log_level)
    # uvicorn shuts down gracefully on SIGTERM, then raises it again: turned into
    # KeyboardInterrupt (which uvicorn.run swallows), it lets `with Tunnel` stop the tunnel
    # instead of the process dying with the tunnel still running.
    signal.signal(signal.SIGTERM, _interrupt)
    if args.reload:
        os.environ[APP_ENV] = args.app
        os.environ[APP_ENV + "_LOG_LEVEL"] = args.log_level
        if args.inspect:
            remote = ":remote" if args.inspect_allow_remote else ""
            os.environ[APP_ENV + "_INSPECT"] = f"{args.inspect_keep}{remote}"
        uvicorn.run(
            f"{__name__}:reload_app",
            factory=True,
            reload=True,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
        )
    else:
        inspect = args.inspect_keep if args.inspect else None
        app = _development(located, inspect=inspect, allow_remote=args.inspect_allow_remote)
        server = uvicorn.Server(
            uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level)
        )
        if inspect is not None:  # an open inspector page must not hold up Ctrl-C
            app.stopping = lambda: server.should_exit
        with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run does
            server.run()
        if not server.started:  # as uvicorn.run does: the app's start-up failed
            sys.exit(_STARTUP_FAILURE)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _configure_logging(level: str) -> None:
    # The receiver's own lines ("answered 200 in 3.1 ms ...") next to uvicorn's.
    logging.basicConfig(level=level.upper(), format="%(levelname)-8s %(name)s: %(message)s")


def _levels(config: ReceiverConfig) -> Iterator[Level]:
    tables: tuple[tuple[LevelKind, Mapping[str, LevelConfig]], ...] = (
        ("tool", config.tools),
        ("feature", config.features),
        ("assistant", config.assistants),
        ("phone number", config.phone_numbers),
        ("org", config.orgs),
    )
    for kind, entries in tables:
        for key, entry in entries.items():
            yield Level(kind, key, entry)
    if config.org:
        yield Level("org", "", config.org)


def _try_command(url: str, located: Located) -> str:
    """A `send` that reaches the user's own code: one of their tools, else a status update.

    The example app's tool would only get "unknown tool" from another app; and a message
    must carry an id of a configured level to win it, when no org level catches the rest.
    """
    receiver = located.receiver
    if receiver is None:
        return f"vapi-receiver send status-update --url {url}"
    if receiver.registry.tools:
        name, spec = sorted(receiver.registry.tools.items())[0]
        example = _example_arguments(spec.arguments_model)
        command = f"vapi-receiver send tool-calls --tool {name} --args '{json.dumps(example)}'"
    else:
        command = "vapi-receiver send status-update" + _configured_ids(receiver.config)
    command += f" --url {url}"
    source = receiver.config.source
    return command + (f" --config {source}" if os.path.isfile(source) else "")


def _example_arguments(model: type[BaseModel]) -> dict[str, object]:
    """A placeholder value for each required argument, of its JSON type."""
    schema = model.model_json_schema()
    samples: dict[str, object] = {"integer": 1, "number": 1.5, "boolean": True}
    properties: dict[str, dict[str, object]] = schema.get("properties", {})
    return {
        name: samples.get(str(properties.get(name, {}).get("type")), "example")
        for name in schema.get("required", [])
    }


def _configured_ids(config: ReceiverConfig) -> str:
    if config.org or config.insecure:
        return ""
    if config.assistants:
        return f" --assistant-id {next(iter(config.assistants))}"
    if config.phone_numbers:
        return f" --phone-number-id {next(iter(config.phone_numbers))}"
    if config.orgs:
        return f" --set org_id={next(iter(config.orgs))}"
    return ""
