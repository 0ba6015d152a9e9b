"""`serve --link`: point an object at the tunnel for one session, and put it back afterwards.

How a session knows that it set a URL: a **state file**, one per linked object, in
`$XDG_STATE_HOME/vapi-receiver/links/` (default `~/.local/state/...`), mode 0600. It is
written *before* the object is changed and holds the API URL, the object, the URL the
session set, the exact PATCH body that restores what was there before, and the session's
pid; it is removed once that body has been applied. So:

- a URL is "ours" only when the object still points at the URL a state file on this machine
  says a session set. Anything else (a production URL, a colleague's tunnel) is someone
  else's, and is taken over only with `--force`;
- a session that died without restoring (kill -9, a power cut) leaves the file behind: the
  next `serve --link` of that object sees its own URL, takes over without `--force`, and on
  exit restores what was there *before* the dead session, not the dead tunnel's URL;
  `vapi-receiver link --restore` does the same without serving;
- on exit the object is read again, and restored only if it still points at this session's
  URL: a change someone made during the session is left as it is.

A marker inside the object (a header, a query parameter) was the alternative. It would be
sent to the receiver with every message and visible to everyone with dashboard access, any
copy of the object would carry it, and it could not hold the settings to restore after a
crash without putting the previous secret into the object itself. The state file keeps that
secret on this machine only, as private as the configuration file it came from.

The changes themselves run with Ctrl-C and SIGTERM held back (`signals_deferred`), so a
signal never lands between "Vapi changed the object" and "we know it did".
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Final, TextIO

from receiver.cli._server_fields import (
    ID,
    KINDS,
    Kind,
    carries,
    hidden_fields,
    link_body,
    restore_body,
    shown,
)
from receiver.cli._vapi_api import ApiError, ApiUnreachable, VapiApi
from receiver.config import ReceiverConfig
from receiver.errors import ConfigError, ReceiverError
from receiver.vapi_objects import display_url, same_url

STATE_HOME_ENV: Final = "XDG_STATE_HOME"


class LinkRefused(ReceiverError):
    """The object cannot be linked for a session: someone else's URL, a hidden secret."""


class LinkFailed(ReceiverError):
    """Vapi did not take the change; nothing was changed, or the message says what was."""


def state_directory(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    home = env.get(STATE_HOME_ENV) or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(home) / "vapi-receiver" / "links"


@dataclass(frozen=True)
class LinkState:
    """What a state file holds; see the module docstring."""

    api: str
    kind: str
    id: str
    url: str
    restore: dict[str, Any] = field(repr=False)  # the previous secret: never in a repr
    pid: int
    started: str

    @staticmethod
    def path(directory: Path, kind: Kind, object_id: str) -> Path:
        return directory / f"{kind.path}-{object_id}.json"  # ids are checked: [A-Za-z0-9_-]

    @classmethod
    def load(cls, path: Path) -> LinkState | None:
        """The state in `path`; `None` when there is none (or it is unreadable garbage)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        """Write atomically, readable by this user only: it holds the previous secret."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(asdict(self), file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then deliver them as they would have been.

    Python runs signal handlers in the main thread whichever thread the signal reaches, so
    handlers are swapped rather than the signal mask. Outside the main thread it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


class SessionLink:
    """One object pointed at a session's URL, and put back when the session ends.

    Args:
        api: The API client.
        kind: The object's kind.
        object_id: Its id.
        directory: Where state files are kept.
        out: Where progress and instructions are printed.
    """

    def __init__(
        self,
        api: VapiApi,
        kind: Kind,
        object_id: str,
        *,
        directory: Path,
        out: TextIO = sys.stderr,
    ) -> None:
        self.api = api
        self.kind = kind
        self.id = object_id
        self.state_path = LinkState.path(directory, kind, object_id)
        self.out = out
        self.current: dict[str, Any] = {}
        self.restore: dict[str, Any] | None = None
        self.url: str | None = None
        self._inherited: LinkState | None = None

    @property
    def subject(self) -> str:
        return f"{self.kind.label} {self.id}"

    def prepare(self, *, force: bool) -> dict[str, Any]:
        """Read the object and decide whether this session may take it; returns the object.

        Raises:
            LinkRefused: it points at a URL no session on this machine set (without
                `force`), another live session holds it, or its secret is hidden.
            ApiError, ApiUnreachable: it cannot be read.
        """
        self.current = self.api.get(self.kind.path, self.id)
        current_url = self.kind.read(self.current).url
        state = LinkState.load(self.state_path)
        if state is not None and state.api != self.api.base_url:
            state = None
        if state is not None and state.pid != os.getpid() and _alive(state.pid) and not force:
            raise LinkRefused(
                f"{self.subject} is linked by another vapi-receiver session (pid {state.pid}, "
                f"since {state.started}); stop it first, or pass --force"
            )
        if state is not None and current_url is not None and same_url(current_url, state.url):
            self._inherited = state  # a session that ended without restoring: ours to finish
            self.restore = state.restore
            print(
                f"{self.subject} still points at {display_url(state.url)}, set by an earlier "
                f"session (pid {state.pid}) that did not restore it; it will be restored to "
                "what it had before that session",
                file=self.out,
                flush=True,
            )
            return self.current
        if hidden := hidden_fields(self.current):
            raise LinkRefused(
                f"the API hides {', '.join(hidden)} of {self.subject} as [REDACTED], so what "
                "it has now could not be put back when the session ends; link it for good "
                "with `vapi-receiver link` instead"
            )
        if current_url is not None and not force:
            raise LinkRefused(
                f"{self.subject} points at {display_url(current_url)}, which no vapi-receiver "
                "session on this machine set: calls to it would come here. Pass --force to "
                "take it over for this session (it is put back when the session ends)"
            )
        self.restore = restore_body(self.kind, self.current)
        return self.current

    @contextlib.contextmanager
    def linked(self, url: str, secret: str) -> Iterator[None]:
        """Point the object at `url` with `secret` for the block, then put it back.

        Raises:
            LinkFailed: Vapi refused the change, or did not answer and the outcome is unknown.
        """
        taken = False
        try:
            with signals_deferred():
                self._take(url, secret)
                taken = True
            yield
        finally:
            if taken:
                with signals_deferred():
                    self.put_back()

    def _take(self, url: str, secret: str) -> None:
        assert self.restore is not None, "prepare() first"
        body = link_body(self.kind, self.current, url, secret, replace_credential=True)
        self.url = url
        LinkState(
            api=self.api.base_url,
            kind=self.kind.path,
            id=self.id,
            url=url,
            restore=self.restore,
            pid=os.getpid(),
            started=datetime.now(UTC).isoformat(timespec="seconds"),
        ).save(self.state_path)
        try:
            self.api.update(self.kind.path, self.id, body)
        except ApiError as exc:
            self._settle_unchanged()
            raise LinkFailed(f"Vapi refused to link {self.subject}: {exc}") from None
        except ApiUnreachable as exc:
            if self._applied(url, secret):
                return
            raise LinkFailed(
                f"no answer while linking {self.subject} ({exc}); if Vapi applied it, "
                f"`vapi-receiver link --restore {self.kind.option} {self.id}` puts it back"
            ) from None
        print(f"Linked {self.subject} to {display_url(url)} for this session", file=self.out)

    def _applied(self, url: str, secret: str) -> bool:
        """After a lost answer: whether the change was made (then it stays ours to undo)."""
        try:
            now = self.api.get(self.kind.path, self.id)
        except (ApiError, ApiUnreachable):
            return False  # unknown: the state file stays, for `link --restore`
        if carries(now, self.kind, url, secret):
            return True
        self._settle_unchanged()
        return False

    def _settle_unchanged(self) -> None:
        """The object was not changed: keep an earlier session's state (still to be restored),
        or drop the one this session wrote."""
        if self._inherited is not None:
            self._inherited.save(self.state_path)
        else:
            self._forget()

    def put_back(self) -> bool:
        """Restore what the object had before, unless someone changed it meanwhile.

        Returns:
            Whether the object is in a settled state (restored, or left to its new owner).
        """
        assert self.restore is not None and self.url is not None
        try:
            now = self.api.get(self.kind.path, self.id)
        except (ApiError, ApiUnreachable) as exc:
            self._cannot_restore(exc)
            return False
        now_url = self.kind.read(now).url
        before = self.kind.read({"id": self.id, **self.restore}).url
        if now_url is None or not same_url(now_url, self.url):
            where = display_url(now_url) if now_url else "no URL"
            print(
                f"{self.subject} now points at {where}, not at this session's URL: someone "
                "changed it meanwhile, so it is left as it is (before this session it had "
                f"{display_url(before) if before else 'no URL'})",
                file=self.out,
                flush=True,
            )
            self._forget()
            return True
        try:
            self.api.update(self.kind.path, self.id, self.restore)
        except (ApiError, ApiUnreachable) as exc:
            self._cannot_restore(exc)
            return False
        self._forget()
        print(
            f"Restored {self.subject} to {display_url(before) if before else 'no server URL'}",
            file=self.out,
            flush=True,
        )
        return True

    @classmethod
    def resume(
        cls, api: VapiApi, kind: Kind, object_id: str, *, directory: Path, out: TextIO
    ) -> SessionLink | None:
        """The link an earlier session left behind, ready for `put_back`; `None` if none."""
        session = cls(api, kind, object_id, directory=directory, out=out)
        state = LinkState.load(session.state_path)
        if state is None or state.api != api.base_url:
            return None
        session.restore, session.url, session._inherited = state.restore, state.url, state
        return session

    def _cannot_restore(self, error: Exception) -> None:
        assert self.restore is not None and self.url is not None
        print(
            f"vapi-receiver: could not restore {self.subject}: {error}\n"
            f"It may still point at {display_url(self.url)}. To put back what it had before, "
            f"run\n  vapi-receiver link --restore {self.kind.option} {self.id}\n"
            f"which sends this to {self.api.describe(self.kind.path, self.id)} (PATCH; the "
            f"full values are kept in {self.state_path} until then):\n"
            f"  {json.dumps(shown(self.restore))}",
            file=self.out,
            flush=True,
        )

    def _forget(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def session_secret(config: ReceiverConfig, kind: Kind, obj: Mapping[str, Any]) -> str:
    """The x-vapi-secret the receiver accepts for this object's messages.

    Its own level's first secret, else (a phone number's) its org's: the level whose
    credential the receiver demands when nothing more specific is configured.

    Raises:
        LinkRefused: the receiver has no plain secret for it.
    """
    object_id = str(obj.get("id", ""))
    tables = {
        "phone-number": config.phone_numbers,
        "assistant": config.assistants,
        "org": config.orgs,
    }
    candidates = [tables[kind.path].get(object_id)]
    org_id = obj.get("orgId") if kind.path != "org" else object_id
    if kind.path != "assistant":
        candidates += [config.orgs.get(str(org_id)) if org_id else None, config.org]
    for level in candidates:
        if level is not None and level.secrets:
            return level.secrets[0]
    raise LinkRefused(
        f"the receiver's configuration ({config.source}) has no secret for {kind.label} "
        f"{object_id}: add [{kind.table}.{object_id}] with a `secret`, or run `vapi-receiver "
        f"link {kind.option} {object_id} --url ...` once, which writes one"
    )


def open_session(
    object_id: str, config: ReceiverConfig | None, *, force: bool, out: TextIO
) -> tuple[SessionLink, str]:
    """`serve --link`: the session for a phone number, and the secret it will carry.

    Raises:
        ConfigError: a malformed id, no API key.
        LinkRefused: the app is no Receiver, has no secret for it, or it is not ours to take.
        ApiError, ApiUnreachable: it cannot be read.
    """
    if not ID.fullmatch(object_id):
        raise ConfigError(f"--link {object_id!r} is not a phone number id")
    if config is None:
        raise LinkRefused("--link needs a Receiver's app: the secret comes from its configuration")
    api = VapiApi.from_env(os.environ)
    kind = KINDS["phone-number"]
    session = SessionLink(api, kind, object_id, directory=state_directory(), out=out)
    try:
        obj = session.prepare(force=force)
        secret = session_secret(config, kind, obj)
    except BaseException:
        api.close()
        raise
    return session, secret
