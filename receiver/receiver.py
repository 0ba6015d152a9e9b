"""`Receiver`: the one object a user creates; configuration, handlers and the app meet here."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from functools import cached_property
from typing import Any, TypeVar, overload

from starlette.applications import Starlette

from receiver.app import build_app
from receiver.call_handler import CallHandler
from receiver.config import (
    CONFIG_PATH_ENV,
    ORG_SECRET_ENV,
    ReceiverConfig,
    config_from_env,
    config_from_mapping,
    load_config,
)
from receiver.core import Outcome, ReceiverCore
from receiver.errors import ConfigError
from receiver.log import logger, show_lines
from receiver.registry import HandlerRegistry
from receiver.telemetry import build_telemetry
from receiver.tools import ToolSpec
from receiver.verification import hmac_replay_warnings

F = TypeVar("F", bound=Callable[..., Any])

ConfigSource = ReceiverConfig | str | os.PathLike[str] | Mapping[str, Any] | None


class Receiver:
    """Receives Vapi server-URL messages, verifies them, and calls your handlers.

    Args:
        config: A `ReceiverConfig`, the path of a TOML file, or the TOML structure as a
            mapping. When omitted, `$VAPI_RECEIVER_CONFIG` names the file, or
            `$VAPI_SERVER_SECRET` alone configures the org level.
        handlers: `CallHandler` instances to register.
        insecure: Accept requests without a credential, for local experiments only. It
            overrides the configuration's own `insecure` when given.
        path: Where the webhook is served.
        record_to: Append every verified delivery to this JSON Lines file, to replay
            later (`receiver.recording`); overrides the configuration's `record_to`.
        explain_refusals: Answer a 401 with its full explanation (levels, credentials and
            why each refused), for development; overrides the configuration's own. Off,
            the answer names only the schemes accepted and the explanation is logged.
        metrics: Serve Prometheus metrics at `/metrics` (docs/observability.md); overrides
            the configuration's `metrics`. Needs `pip install "vapi-receiver[metrics]"`.
        log_format: `"text"` or `"json"`: how the receiver's lines look when the
            application configured no logging; overrides the configuration's own.
        tracer_provider: The OpenTelemetry `TracerProvider` for the receiver's spans;
            by default the global one. Needs `pip install "vapi-receiver[otel]"`.

    Raises:
        ConfigError: when no credential is configured and `insecure` is not set: a receiver
            that accepts anything must be asked for, never be the default; or when metrics
            are on and prometheus-client is not installed.
    """

    def __init__(
        self,
        config: ConfigSource = None,
        handlers: Iterable[CallHandler] = (),
        *,
        insecure: bool | None = None,
        path: str = "/vapi",
        record_to: str | os.PathLike[str] | None = None,
        explain_refusals: bool | None = None,
        metrics: bool | None = None,
        log_format: str | None = None,
        tracer_provider: object = None,
    ) -> None:
        resolved = _resolve_config(config)
        if insecure is not None and insecure != resolved.insecure:
            resolved = dataclasses.replace(resolved, insecure=insecure)
        if explain_refusals is not None:
            resolved = dataclasses.replace(resolved, explain_refusals=explain_refusals)
        if record_to is not None:
            resolved = dataclasses.replace(resolved, record_to=record_to)
        if metrics is not None:
            resolved = dataclasses.replace(resolved, metrics=metrics)
        if log_format is not None:
            resolved = dataclasses.replace(resolved, log_format=log_format)
        if not resolved.has_credentials and not resolved.insecure:
            raise ConfigError(
                f"no credential configured ({resolved.source}): pass config=..., set "
                f"${CONFIG_PATH_ENV} or ${ORG_SECRET_ENV}, or pass insecure=True for local "
                "development"
            )
        self.config = resolved
        self.path = path
        self.registry = HandlerRegistry()
        telemetry = build_telemetry(resolved, tracer_provider=tracer_provider)
        self.core = ReceiverCore(resolved, self.registry, telemetry)
        for handler in handlers:
            self.registry.include(handler)

    # -- registration: thin wrappers over the registry, so users need one object -----------

    def on(self, *message_types: str, allow_unknown: bool = False) -> Callable[[F], F]:
        """Register the decorated function for one or more message types.

        Request types (assistant-request, transfer-destination-request, ...) take exactly
        one handler, whose return value (a response model or a plain dict) is the answer.
        Informational types take any number; they run after Vapi has its 200.
        """
        return self.registry.on(*message_types, allow_unknown=allow_unknown)

    def on_any(self, func: F) -> F:
        """Observe every verified message, after it has been answered."""
        return self.registry.on_any(func)

    def on_error(self, func: F) -> F:
        """Hear about every handler or tool failure: `func(error, message)`."""
        return self.registry.on_error(func)

    @overload
    def tool(self, name: F, /) -> F: ...
    @overload
    def tool(
        self, name: str | None = None, /, *, timeout: float | None = None
    ) -> Callable[[F], F]: ...
    def tool(
        self, name: F | str | None = None, /, *, timeout: float | None = None
    ) -> F | Callable[[F], F]:
        """Register a tool: `@receiver.tool`, `@receiver.tool("name")`, `@receiver.tool(timeout=5)`.

        Arguments are validated against the function's type hints; the return value becomes
        the result string (non-strings JSON-encoded); raise `ToolError` to send an error.
        """
        if callable(name):
            return self.registry.tool(name)
        return self.registry.tool(name, timeout=timeout)

    def add_tool(
        self, func: Callable[..., Any], *, name: str | None = None, timeout: float | None = None
    ) -> ToolSpec:
        return self.registry.add_tool(func, name=name, timeout=timeout)

    def vapi_tools(self, server_url: str | None = None) -> list[dict[str, Any]]:
        """Every registered tool as Vapi's function tool definition, by name.

        `vapi-receiver tools my_app:receiver` prints them; paste each into Vapi's "create
        tool" API, or into an assistant's `model.tools`.

        Args:
            server_url: This receiver's public webhook URL, set as each tool's server.
        """
        return [
            self.registry.tools[name].vapi_tool(server_url) for name in sorted(self.registry.tools)
        ]

    def include(self, handler: CallHandler) -> None:
        """Register a `CallHandler` instance's `on_<type>` and `@tool` methods."""
        self.registry.include(handler)

    # -- serving ---------------------------------------------------------------------------

    async def handle(
        self, headers: Mapping[str, str], body: bytes, *, method: str = "POST", url: str = ""
    ) -> Outcome:
        """Answer one delivery without HTTP: for other servers, queues and tests.

        `method` and `url` matter only to HMAC credentials that sign `{method}` or `{url}`.
        """
        return await self.core.handle(headers, body, method=method, url=url)

    def keep_files_in(self, directory: str | os.PathLike[str]) -> None:
        """Keep the inbox (and the recording, when on) in `directory` instead; for tests.

        Tests must not add deliveries to the application's real inbox, where the next
        receiver to start would run them, nor append to its recording. Call this before the
        app starts; the `vapi_client` pytest fixture does it with a temporary directory.
        """
        config = self.config
        inbox = dataclasses.replace(
            config.inbox, path=os.path.join(directory, "inbox.sqlite3"), url=None
        )
        record_to = os.path.join(directory, "deliveries.jsonl") if config.record_to else None
        self.config = dataclasses.replace(config, inbox=inbox, record_to=record_to)
        self.core.use_files(self.config)

    @cached_property
    def app(self) -> Starlette:
        """The ASGI app: `uvicorn my_module:receiver.app`, or `app = receiver.app`.

        Its lifespan is `lifespan`; mounted in another app, that lifespan never runs by
        itself: use `mount`, or enter `lifespan` in the host's own.
        """
        return build_app(self.core, path=self.path, lifespan=self.lifespan)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """Everything that lasts as long as the server: enter it in your app's lifespan.

        Shows the receiver's log lines on stderr when nothing else would (`log.show_lines`),
        checks the configuration against the registered tools, logs what is configured,
        then runs the inbox's work until exit: recovery of deliveries left pending by a
        crash, retries, lease renewal and the purge. While it is not entered, the inbox
        refuses informational deliveries with 503 rather than acknowledge work that nothing
        would retry. `FastAPI(lifespan=receiver.lifespan)` works as it is; inside a lifespan
        of your own, `async with receiver.lifespan(): yield`.

        Args:
            app: The app whose lifespan this is; unused, and there so that Starlette and
                FastAPI can call it as theirs.

        Raises:
            ConfigError: a `[tools.X]` entry names no registered tool.
        """
        show_lines(self.config.log_format)
        try:
            self.core.check_configuration()
        except ConfigError as error:
            # Said on one line of its own: under uvicorn it would otherwise be the last line
            # of a long traceback, followed by "Application startup failed".
            logger.error("configuration error, not serving: %s", error)
            raise
        self.log_startup()
        async with self.core.serving():
            yield

    def mount(self, app: Starlette, path: str) -> None:
        """Serve this receiver under `path` of an existing Starlette or FastAPI app.

        Mounts `self.app` and wraps the host's lifespan around `lifespan`, which a plain
        `app.mount` would never run. The host's lifespan is entered first and left last, so
        that what it sets up (a database pool, a client) is there for every handler the
        inbox runs, including those it finishes at shut-down. Call it before the app starts.

        Args:
            app: The host app; `FastAPI` is a `Starlette`.
            path: The mount point, e.g. `"/hooks"`: the webhook is then at `/hooks/vapi`
                (`/hooks` + the `path` this receiver was created with).
        """
        host = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(outer: Starlette) -> AsyncIterator[Any]:  # the host's state
            async with host(outer) as state, self.lifespan(outer):
                yield state

        app.router.lifespan_context = lifespan
        app.mount(path, self.app)

    def log_startup(self) -> None:
        """Say what is configured (names of levels, never secrets) and what is not handled."""
        config = self.config
        if config.insecure:
            logger.warning(
                "INSECURE mode: requests are accepted without any credential. "
                "Never expose this receiver to the internet."
            )
        levels = [
            f"{len(entries)} {name}"
            for name, entries in (
                ("tools", config.tools),
                ("features", config.features),
                ("assistants", config.assistants),
                ("phone numbers", config.phone_numbers),
                ("orgs", config.orgs),
            )
            if entries
        ]
        if config.org:
            levels.append("org")
        logger.info(
            "vapi receiver on %s; credentials from %s for: %s; tools: %s",
            self.path,
            config.source,
            ", ".join(levels) or "nothing",
            ", ".join(sorted(self.registry.tools)) or "none",
        )
        by_warning: dict[str, list[str]] = {}
        for level, warning in hmac_replay_warnings(config):
            by_warning.setdefault(warning, []).append(level.describe())
        for warning, levels in by_warning.items():
            logger.warning("HMAC on %s: %s", ", ".join(dict.fromkeys(levels)), warning)
        if recorder := self.core.recorder:
            logger.info(
                "recording every verified delivery, headers without credentials, to %s",
                os.path.abspath(recorder.path),
            )
        inbox = config.inbox
        if inbox.enabled:
            if inbox.url:
                logger.info("inbox in PostgreSQL at %s", inbox.where)
            else:
                logger.info("inbox at %s (synchronous=%s)", inbox.path, inbox.synchronous)
        else:
            logger.warning("inbox disabled: handlers still running when the process dies are lost")


def _resolve_config(config: ConfigSource) -> ReceiverConfig:
    if isinstance(config, ReceiverConfig):
        return config
    if isinstance(config, Mapping):
        return config_from_mapping(config)
    if config is not None:
        return load_config(config)
    return config_from_env() or ReceiverConfig(source="no configuration")
