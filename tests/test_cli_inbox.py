"""`vapi-receiver inbox`: stats, list, retry and purge on a real inbox file."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from receiver import Receiver
from receiver.cli import main
from receiver.cli.inbox import parse_duration
from receiver.inbox import InboxStore
from receiver.testing import make_message

DAY = 86400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fill(path: Path, clock: Clock) -> dict[str, int]:
    """Deliveries in every state; returns their ids by name."""
    store = InboxStore.open(str(path), clock=clock)
    ids: dict[str, int] = {}
    for name, kind in [
        ("done", "end-of-call-report"),
        ("failed", "end-of-call-report"),
        ("failed_status", "status-update"),
        ("retrying", "status-update"),
        ("new", "status-update"),
    ]:
        envelope = make_message(kind, call_id=f"call-{name}")
        ids[name] = store.add(
            key=name,
            kind=kind,
            call_id=f"call-{name}",
            body=json.dumps(envelope).encode(),
            owner="worker",
            lease=0,
        ).id
    store.add(key="done", kind="end-of-call-report", call_id=None, body=b"", owner="w", lease=0)
    for name, errors, attempts in [
        ("done", {}, 1),
        ("failed", {"app.crm": "RuntimeError: CRM down"}, 1),
        ("failed_status", {"app.audit": "KeyError: 'x'"}, 1),
        ("retrying", {"app.audit": "TimeoutError"}, 5),
    ]:
        store.finish(
            ids[name],
            "worker",
            succeeded=[],
            errors=errors,
            max_attempts=attempts,
            backoff=lambda n: 60.0,
        )
    store.close()
    return ids


@pytest.fixture
def inbox(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    path = tmp_path / "inbox.sqlite3"
    return path, fill(path, Clock(time.time() - 8 * DAY))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stats_counts_by_status_and_type(
    inbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = inbox
    code, out, _ = run(capsys, "inbox", "stats", "--path", str(path), "--json")
    assert code == 0
    stats = json.loads(out)
    assert stats["by_status"] == {"pending": 2, "done": 1, "failed": 2}
    assert stats["by_type"]["status-update"] == {"pending": 2, "done": 0, "failed": 1}
    assert stats["by_type"]["end-of-call-report"] == {"pending": 0, "done": 1, "failed": 1}
    assert (stats["retrying"], stats["duplicates_dropped"], stats["total"]) == (1, 1, 5)

    code, out, _ = run(capsys, "inbox", "stats", "--path", str(path))
    assert code == 0
    assert "failed        2" in out and "end-of-call-report" in out
    assert "repeated deliveries dropped: 1" in out


def test_list_filters_by_status_and_type(
    inbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ids = inbox
    code, out, _ = run(capsys, "inbox", "list", "--status", "failed", "--path", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATUS", "TYPE"]
    assert [int(line.split()[0]) for line in lines[1:]] == [ids["failed_status"], ids["failed"]]
    assert "RuntimeError: CRM down" in out

    argv = ["inbox", "list", "--status", "failed", "--type", "status-update", "--json"]
    code, out, _ = run(capsys, *argv, "--path", str(path))
    [only] = json.loads(out)
    assert (only["id"], only["call_id"], only["attempts"]) == (
        ids["failed_status"],
        "call-failed_status",
        1,
    )
    assert only["error"] == "app.audit: KeyError: 'x'"
    assert "body" not in only  # bodies hold personal data: never printed

    code, out, _ = run(capsys, "inbox", "list", "--limit", "2", "--json", "--path", str(path))
    assert [item["id"] for item in json.loads(out)] == [ids["new"], ids["retrying"]]


def test_retry_sends_failed_deliveries_back_and_the_receiver_runs_them(
    inbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ids = inbox
    code, out, _ = run(capsys, "inbox", "retry", str(ids["failed"]), "--path", str(path))
    assert code == 0 and out.startswith("1 deliveries sent back to pending")

    receiver = Receiver(config={"org": {"secret": "s"}, "inbox": {"path": str(path)}})
    handled: list[str] = []
    done = threading.Event()

    @receiver.on("end-of-call-report")
    def report(message: Any, call: Any) -> None:
        handled.append(call.id)
        done.set()

    with TestClient(receiver.app):  # the receiver starts and sweeps the inbox
        assert done.wait(10)
    assert handled == ["call-failed"]
    store = InboxStore.open(str(path))
    retried = store.get(ids["failed"])
    store.close()
    assert retried is not None and (retried.status, retried.attempts) == ("done", 1)


def test_retry_refuses_what_is_not_failed_and_all_failed_takes_the_rest(
    inbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ids = inbox
    code, _, err = run(capsys, "inbox", "retry", str(ids["done"]), "999", "--path", str(path))
    assert code == 1
    assert f"delivery {ids['done']} is done; only failed ones are retried" in err
    assert "no delivery 999" in err
    code, out, _ = run(capsys, "inbox", "retry", "--all-failed", "--path", str(path))
    assert code == 0 and out.startswith("2 deliveries sent back")
    code, _, err = run(capsys, "inbox", "retry", "--path", str(path))
    assert code == 2 and "give delivery IDs or --all-failed" in err


def test_purge_deletes_finished_deliveries_older_than_the_age(
    inbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ids = inbox
    code, out, _ = run(capsys, "inbox", "purge", "--older-than", "9d", "--path", str(path))
    assert code == 0 and out.startswith("purged 0 done deliveries finished more than 9d ago")
    code, out, _ = run(capsys, "inbox", "purge", "--older-than", "7d", "--path", str(path))
    assert out.startswith("purged 1 done deliveries finished more than 1w ago")
    code, out, _ = run(capsys, "inbox", "purge", "--include-failed", "--path", str(path))
    assert out.startswith("purged 2 done or failed deliveries")  # default: 7 days
    store = InboxStore.open(str(path))
    remaining = {d.id for d in store.deliveries()}
    store.close()
    assert remaining == {ids["retrying"], ids["new"]}


def test_the_path_comes_from_the_configuration(
    inbox: tuple[Path, dict[str, int]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = inbox
    config = tmp_path / "vapi.toml"
    config.write_text(f'[org]\nsecret = "s"\n[inbox]\npath = "{path}"\n')
    code, out, _ = run(capsys, "inbox", "stats", "--json", "--config", str(config))
    assert code == 0 and json.loads(out)["path"] == str(path)


def test_a_missing_inbox_is_a_usage_error_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.sqlite3"
    code, _, err = run(capsys, "inbox", "stats", "--path", str(missing))
    assert code == 2
    assert f"no inbox at {missing}" in err
    assert not missing.exists()


@pytest.mark.parametrize(
    ("text", "seconds"), [("7d", 7 * DAY), ("12h", 43200), ("30m", 1800), ("1.5w", 10.5 * DAY)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
