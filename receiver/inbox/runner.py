"""The durable inbox as the receiver uses it: stored before the 200, run from the file.

`accept` commits a delivery (claimed by this worker) before the acknowledgement is sent and
returns the work to run after it. `serving` is the background loop of a running server: it
renews this worker's claims, runs deliveries that are due (left pending by a dead worker, or
waiting for a retry), and purges old ones. Handlers are therefore run at least once: a
worker killed between a handler's side effect and the commit of "done" runs it again after
restart. Handlers that must not repeat a side effect should check for it themselves (the
call id is a natural key), which is what the README asks of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from typing import Any, Final, Protocol

from receiver.errors import ReceiverError, RequestError
from receiver.inbox.backend import (
    InboxBackend,
    IncompatibleSchema,
    StoreUnavailable,
    open_backend,
)
from receiver.inbox.keys import delivery_key
from receiver.inbox.repeated_tool_calls import ToolResultReplay
from receiver.inbox.settings import InboxConfig
from receiver.inbox.store import Counts, Delivery, Status
from receiver.jsontext import decode_json
from receiver.log import describe, logger, message_fields
from receiver.models import Message

#: Deliveries run at once by the sweep (fresh deliveries are not limited: they run as they
#: arrive, as before); a restart after a long outage works through its backlog in batches.
SWEEP_CONCURRENCY: Final = 32
PURGE_INTERVAL: Final = 3600.0
#: Seconds shutdown waits for deliveries the sweep is running before cancelling them (they
#: run again after their lease).
SHUTDOWN_GRACE: Final = 10.0
#: Seconds readiness waits for the inbox; a delivery would wait as long and then get a 503.
READY_TIMEOUT: Final = 5.0

#: What a store raises when it cannot do what was asked (`StoreUnavailable` among them).
_STORE_ERRORS: Final = (ReceiverError,)


class InboxUnavailable(RequestError):
    """The delivery could not be stored, so it is not acknowledged: Vapi may send it again."""

    status = 503
    reason = "inbox_unavailable"


class Observer(Protocol):
    """What runs a message's informational handlers: `receiver.dispatch.Dispatcher`."""

    async def observe(
        self, message: Message, *, skip: Collection[str] = ...
    ) -> dict[str, str | None]: ...


class Inbox:
    """Stores informational deliveries and runs their handlers from the store.

    Args:
        config: The `[inbox]` settings.
        observer: Runs the handlers of a message and says which failed.
        parse: Turns a stored message into its model; `None` if it does not fit.
        clock: Seconds since the epoch, for the store's timestamps.
        poll_interval: Seconds between two sweeps for due deliveries.
    """

    def __init__(
        self,
        config: InboxConfig,
        observer: Observer,
        parse: Callable[[dict[str, Any]], Message | None],
        *,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 1.0,
    ) -> None:
        self.config = config
        self._observer = observer
        self._parse = parse
        self._poll_interval = min(poll_interval, config.lease_seconds / 4)
        self._store: InboxBackend = open_backend(config, clock=clock)
        if self._store.wakes_on_work:  # woken when work appears: no need to poll every second
            self._poll_interval = min(max(poll_interval, 5.0), config.lease_seconds / 4)
        self._owner = ("", 0)
        self._unready = ""  # what readiness last reported, to log changes only
        self._running: set[int] = set()
        self._sweeping: set[asyncio.Task[None]] = set()
        self._serving = False
        self._said_not_serving = False
        self.tool_results = (
            ToolResultReplay(self._store, config.tool_result_window)
            if config.tool_result_window > 0
            else None
        )

    @property
    def owner(self) -> str:
        """This worker's name on its claims: host, pid and a random part (pids get reused)."""
        if self._owner[1] != os.getpid():
            name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
            self._owner = (name, os.getpid())
        return self._owner[0]

    async def accept(
        self,
        raw: dict[str, Any],
        headers: Mapping[str, str],
        body: bytes,
        id_header: str | None = None,
    ) -> Callable[[], Awaitable[None]] | None:
        """Commit a verified delivery; return its handlers' run, or `None` for a repeat.

        Args:
            raw: The delivery's `message` object.
            headers: Request headers (names in any case).
            body: The raw body, which is what is stored.
            id_header: The header whose message id the verified signature covers
                (`receiver.inbox.keys.signed_id_header`); without one, the body's digest
                is the key.

        Raises:
            InboxUnavailable: when the commit failed, or `serving` is not running: the
                delivery must not be acknowledged.
        """
        if not self._serving:
            raise self._not_serving()
        key = delivery_key({k.lower(): v for k, v in headers.items()}, body, id_header)
        fields = message_fields(raw)
        try:
            accepted = await self._store.add(
                key=key,
                kind=raw["type"],
                call_id=fields["call_id"],
                body=body,
                owner=self.owner,
                lease=self.config.lease_seconds,
            )
        except _STORE_ERRORS as exc:
            logger.error(
                "could not store the delivery in the inbox, answered 503: %s %s",
                exc,
                describe(fields),
                extra=fields,
            )
            raise InboxUnavailable(
                "the receiver could not store this delivery; send it again"
            ) from None
        if accepted.duplicate:
            logger.info(
                "repeated delivery acknowledged and not run again (inbox id %d, key %s) %s",
                accepted.id,
                key.split(":", 1)[0],
                describe(fields),
                extra=fields,
            )
            return None
        return functools.partial(self._run, accepted.id, raw, frozenset())

    async def first_sight(self, key: str, ttl: float) -> bool:
        """Whether no other process on this inbox accepted the signed request `key` already.

        With the store unreachable the answer is yes, with a warning: this process's own
        memory of signed requests still refused any replay it saw, and the signed timestamp
        bounds the rest, as for a receiver on its own.
        """
        try:
            return await self._store.first_sight(key, ttl=ttl)
        except _STORE_ERRORS as exc:
            logger.warning(
                "could not check the inbox for a replay of this signed request (accepted on "
                "this worker's own memory): %s",
                exc,
            )
            return True

    async def counts(self) -> Counts:
        """Deliveries not done yet, by state (file-wide, every worker's), for metrics."""
        return await self._store.counts()

    async def unavailable(self) -> str | None:
        """Why a delivery could not be stored now, or `None`: the readiness probe's answer.

        The store is opened if need be and its write lock taken and released, so a missing
        directory, a read-only or locked file, or a file that is no inbox is reported. A
        full disk shows only when a delivery's write fails (answered 503, and logged). The
        answer names no path, which is for the log: readiness is served to anyone.
        """
        try:
            await asyncio.wait_for(self._store.probe(), READY_TIMEOUT)
        except TimeoutError:
            problem, detail = f"the inbox did not answer within {READY_TIMEOUT:g} s", ""
        except (StoreUnavailable, IncompatibleSchema) as exc:
            problem, detail = f"the inbox cannot be written: {exc}", ""
        except ReceiverError as exc:
            problem, detail = "the inbox file cannot be opened or used", f": {exc}"
        except Exception as exc:  # a bug of ours or of a driver: reported, never a 500
            logger.exception("readiness: the inbox failed unexpectedly")
            problem, detail = f"the inbox failed: {type(exc).__name__}", ""
        else:
            if self._unready:
                logger.info("inbox ready again")
            self._unready = ""
            return None
        if problem != self._unready:
            logger.error("not ready: %s%s", problem, detail)
        self._unready = problem
        return problem

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Run the sweep while the server runs; on exit, let running deliveries finish."""
        sweep = asyncio.create_task(self._sweep_forever())
        self._serving = True
        try:
            yield
        finally:
            self._serving = False
            sweep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweep
            if self._sweeping:
                await asyncio.wait(self._sweeping, timeout=SHUTDOWN_GRACE)
                for task in self._sweeping:
                    task.cancel()
                await asyncio.gather(*self._sweeping, return_exceptions=True)
            await self._store.close()

    def _not_serving(self) -> InboxUnavailable:
        """The refusal of a delivery that arrives while `serving` is not running.

        Acknowledging it would promise what this process would not keep: a failed handler
        retried, a delivery left by a crash recovered, a long handler's lease renewed. Not
        acknowledged, it stays Vapi's to send again, and the miswiring shows on the first
        delivery instead of as silent loss. Logged once per inbox; every such delivery is
        refused.
        """
        if not self._said_not_serving:
            self._said_not_serving = True
            logger.error(
                "informational deliveries are refused with 503: the inbox is not serving. "
                "Mounted in another app, the receiver's lifespan does not run by itself: use "
                "receiver.mount(app, path), or enter receiver.lifespan() in your app's lifespan"
            )
        return InboxUnavailable(
            "the receiver's inbox is not serving (its lifespan is not running); not "
            "acknowledged, send it again"
        )

    async def sweep(self) -> int:
        """Renew this worker's claims and start the deliveries that are due; how many."""
        if self._running:
            await self._store.renew(self.owner, set(self._running), lease=self.config.lease_seconds)
        free = SWEEP_CONCURRENCY - len(self._sweeping)
        if free <= 0:
            return 0
        due = await self._store.claim_due(self.owner, lease=self.config.lease_seconds, limit=free)
        if due:
            logger.info("running %d deliveries from the inbox (left pending or retried)", len(due))
        for delivery in due:
            task = asyncio.create_task(self._run_stored(delivery))
            self._sweeping.add(task)
            task.add_done_callback(self._sweeping.discard)
        return len(due)

    async def purge(self) -> None:
        """Delete done deliveries older than the retention, and expired tool results."""
        purged = await self._store.purge(
            older_than=self.config.retention_days * 86400,
            tool_result_window=self.config.tool_result_window,
        )
        if purged.deliveries or purged.tool_results:
            logger.info(
                "inbox purge: %d done deliveries, %d tool results",
                purged.deliveries,
                purged.tool_results,
            )

    async def close(self) -> None:
        await self._store.close()

    # -- running ---------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        next_purge = 0.0
        failing = ""  # logged once per distinct error, not once a second
        while True:
            try:
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + PURGE_INTERVAL
                    await self.purge()
                await self.sweep()
                await self._store.maintain()
            except _STORE_ERRORS as exc:
                if str(exc) != failing:
                    failing = str(exc)
                    logger.error("inbox sweep failed; trying again every second: %s", exc)
            else:
                if failing:
                    failing = ""
                    logger.info("inbox sweep works again")
            await self._store.wait_for_work(self._poll_interval)

    async def _run_stored(self, delivery: Delivery) -> None:
        try:
            # The rules the body was accepted by: no NaN, no lone surrogates, bounded depth.
            envelope = decode_json(delivery.body)
            raw = envelope["message"] if isinstance(envelope, dict) else None
            if not isinstance(raw, dict):
                raise TypeError("message is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            # The same bytes will never read better: park it for `inbox list --status failed`.
            error = {"inbox": f"stored body unreadable: {exc}"}
            await self._record(delivery.id, {}, error, {}, park=True)
            return
        await self._run(delivery.id, raw, delivery.handlers_done)

    async def _run(self, delivery_id: int, raw: dict[str, Any], skip: frozenset[str]) -> None:
        fields = message_fields(raw)
        self._running.add(delivery_id)
        try:
            message = self._parse(raw)
            if message is None:
                # Logged by the parser; retrying the same bytes cannot help, so park it
                # where `inbox list --status failed` shows it.
                error = {"parse": f"{raw.get('type')} does not fit its model"}
                await self._record(delivery_id, {}, error, fields, park=True, misfit=True)
                return
            outcome = await self._observer.observe(message, skip=skip)
        except Exception as exc:  # handlers are isolated already; this is a bug of ours
            logger.exception("running inbox delivery %d failed", delivery_id, extra=fields)
            await self._record(delivery_id, {}, {"inbox": f"{type(exc).__name__}: {exc}"}, fields)
            return
        else:
            errors = {name: error for name, error in outcome.items() if error is not None}
            await self._record(delivery_id, outcome, errors, fields)
        finally:
            self._running.discard(delivery_id)

    async def _record(
        self,
        delivery_id: int,
        outcome: Mapping[str, str | None],
        errors: Mapping[str, str],
        fields: Mapping[str, Any],
        *,
        park: bool = False,
        misfit: bool = False,
    ) -> None:
        succeeded = [name for name, error in outcome.items() if error is None]
        try:
            status = await self._store.finish(
                delivery_id,
                self.owner,
                succeeded=succeeded,
                errors=errors,
                max_attempts=self.config.max_attempts,
                backoff=self.config.backoff,
                park=park,
            )
        except _STORE_ERRORS as exc:
            logger.error(
                "could not record the outcome of inbox delivery %d; it runs again once its "
                "lease ends: %s %s",
                delivery_id,
                exc,
                describe(fields),
                extra=dict(fields),
            )
            return
        _log_status(delivery_id, status, fields, misfit=misfit)


def _log_status(
    delivery_id: int, status: Status | None, fields: Mapping[str, Any], *, misfit: bool = False
) -> None:
    extra = {**fields, "inbox_id": delivery_id}
    if status == "failed" and misfit:
        # Retrying parses the same bytes with the same model: it helps only once the
        # receiver (or the app's model) is changed to accept them.
        logger.error(
            "inbox delivery %d parked as failed: it does not fit its model, so a retry fails "
            "the same way until the receiver's models accept it (upgrade vapi-receiver, then "
            "`vapi-receiver inbox retry %d`) %s",
            delivery_id,
            delivery_id,
            describe(fields),
            extra=extra,
        )
        return
    if status is None:
        logger.warning(
            "inbox delivery %d was taken over by another worker while it ran %s",
            delivery_id,
            describe(fields),
            extra=extra,
        )
    elif status == "failed":
        logger.error(
            "inbox delivery %d parked as failed; `vapi-receiver inbox retry %d` runs it again %s",
            delivery_id,
            delivery_id,
            describe(fields),
            extra=extra,
        )
    elif status == "pending":
        logger.warning(
            "inbox delivery %d failed; retried later %s", delivery_id, describe(fields), extra=extra
        )
