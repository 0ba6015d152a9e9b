"""The inspector page in a real browser: headless Chromium (Debian's), driven by Playwright.

Skipped with a reason where Chromium or Playwright is missing; under CI (`CI=true`, which
`.ci/run` sets after installing Chromium) a missing browser fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from receiver.inspector import Inspector
from receiver.testing import make_message
from tests.test_inspector import SECRET, make_receiver, serving

pytestmark = pytest.mark.slow

CHROMIUM = (
    os.environ.get("VAPI_RECEIVER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return (
            f"no Chromium at {CHROMIUM}: apt-get install chromium (or set VAPI_RECEIVER_CHROMIUM)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return 'Playwright is missing: pip install -e ".[dev]"'
    return None


@pytest.fixture
def page(tmp_path: Path) -> Iterator[tuple[Any, str, httpx2.Client]]:
    if (missing := _missing()) is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests must run in CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    inspector = Inspector(make_receiver(tmp_path))
    with (
        serving(inspector) as url,
        httpx2.Client(base_url=url, timeout=10) as client,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 900})
            tab.goto(f"{url}/_inspect")
            tab.wait_for_selector("#live.on")  # the event stream is connected
            yield tab, url, client
        finally:
            browser.close()


def deliver(client: httpx2.Client, envelope: dict[str, Any]) -> None:
    answer = client.post(
        "/vapi",
        content=json.dumps(envelope).encode(),
        headers={"content-type": "application/json", "x-vapi-secret": SECRET},
    )
    assert answer.status_code == 200


def wait_for_rows(tab: Any, count: int) -> None:
    """Until the list has `count` rows (by locators: the page's policy forbids eval)."""
    tab.locator("#rows tr").nth(count - 1).wait_for(state="attached")
    assert tab.locator("#rows tr").count() == count


def rows(tab: Any) -> Any:
    return tab.locator("#rows tr:not([hidden])")


def test_the_page_loads_and_a_delivery_appears_without_reload(
    page: tuple[Any, str, httpx2.Client],
) -> None:
    tab, _url, client = page
    assert tab.title() == "vapi-receiver inspector"
    assert rows(tab).count() == 0
    envelope = make_message("status-update")
    deliver(client, envelope)
    wait_for_rows(tab, 1)
    row = rows(tab).first
    assert row.get_attribute("data-type") == "status-update"
    assert row.get_attribute("data-call") == envelope["message"]["call"]["id"]
    assert "verified" in row.inner_text()


def test_the_detail_shows_the_body_with_secrets_masked(
    page: tuple[Any, str, httpx2.Client],
) -> None:
    tab, _url, client = page
    envelope = make_message("status-update")
    envelope["message"]["phoneNumber"] = {"id": "pn-1", "serverUrlSecret": "payload-secret-42"}
    deliver(client, envelope)
    tab.wait_for_selector("#rows tr")
    rows(tab).first.click()
    tab.wait_for_selector("#detail:not([hidden])")
    body = tab.locator("#detail-body").inner_text()
    headers = tab.locator("#detail-headers").inner_text()
    assert '"serverUrlSecret": "****"' in body
    assert "payload-secret-42" not in body
    assert "x-vapi-secret: ****" in headers and SECRET not in headers


def test_replay_adds_a_row(page: tuple[Any, str, httpx2.Client]) -> None:
    tab, _url, client = page
    deliver(client, make_message("status-update"))
    tab.wait_for_selector("#rows tr")
    rows(tab).first.click()
    tab.wait_for_selector("#detail:not([hidden])")
    tab.click("#replay")
    wait_for_rows(tab, 2)
    tab.wait_for_selector("#detail-title:has-text('fresh of #1')")  # the new row is shown


def test_filters_narrow_the_rows_and_a_screenshot_is_written(
    page: tuple[Any, str, httpx2.Client], tmp_path: Path
) -> None:
    tab, _url, client = page
    first, second = make_message("status-update"), make_message("status-update")
    deliver(client, first)
    deliver(client, second)
    deliver(client, make_message("end-of-call-report", call=second["message"]["call"]))
    wait_for_rows(tab, 3)
    tab.fill("#type-filter", "end-of-call")
    assert rows(tab).count() == 1
    tab.fill("#type-filter", "")
    tab.fill("#call-filter", first["message"]["call"]["id"])
    assert rows(tab).count() == 1
    tab.fill("#call-filter", "")
    assert rows(tab).count() == 3
    assert tab.locator("#calls .call").count() == 2  # one timeline per call
    shot = tmp_path / "inspector.png"
    tab.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
