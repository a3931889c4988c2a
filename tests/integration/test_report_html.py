"""The HTML report as a person sees it: opened from disk in headless Chromium, offline.

It uses Debian's /usr/bin/chromium (bootstrap installs it) through Playwright, which never
downloads a browser here. Without that browser the test fails under CI (CI=true) and skips
elsewhere. Set OUTGOING_REPORT_SCREENSHOT=/path/shot.png to keep a screenshot of the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from outgoing_cli.report.page import html_report
from outgoing_cli.report.rows import build_report
from shared.contracts.reporting import Figures
from tests.unit.cli.test_report import hand_missions, mission

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CHARTS = ("meetings-per-market", "satisfaction", "outcomes-funnel")
HOSTILE_MARKET = '<script>alert("market")</script> & $x$'
HOSTILE_SECTOR = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"Debian's chromium is not installed at {CHROMIUM}: `make install` installs it when run as root"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def report_file(folder: Path) -> Path:
    """The hand-checked missions and one whose market and sector names try to inject markup."""
    hostile = mission("hostile-2020", 2020, HOSTILE_MARKET, "CA", {HOSTILE_SECTOR: Figures(lombard=["lombard-x"], meetings_scheduled=1)})
    path = folder / "report.html"
    path.write_text(html_report(build_report([*hand_missions(), hostile], "market", None, [])), encoding="utf-8")
    return path


def test_the_report_renders_its_charts_and_table_offline_without_errors(browser: Browser, tmp_path: Path) -> None:
    path = report_file(tmp_path)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(f"console {message.type}: {message.text}") if message.type in ("error", "assert") else None,
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_timeout(300)  # late console messages (a blocked resource) arrive after load

    for name in CHARTS:
        chart = page.locator(f"figure#{name} > svg")
        assert chart.count() == 1, name
        box = chart.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, (name, box)
        drawn = chart.evaluate("svg => { const b = svg.getBBox(); return [b.width, b.height, svg.querySelectorAll('path, use').length]; }")
        assert drawn[0] > 0 and drawn[1] > 0 and drawn[2] > 10, (name, drawn)

    sectors = page.locator("table#sectors tbody tr td:first-child").all_inner_texts()
    assert sectors == [HOSTILE_SECTOR, "alimentare", "meccanica"]
    total = page.locator("table#sectors tfoot td").all_inner_texts()
    assert total[:4] == ["total", "5", "4", "11"]  # Lombard a, b, c, d, x; partners in1, in2, uk1, uk2; 5 + 3 + 2 + 1 meetings
    assert page.locator("script, img").count() == 0

    if shot := os.environ.get("OUTGOING_REPORT_SCREENSHOT"):
        page.screenshot(path=shot, full_page=True)
    page.close()
    assert problems == []
    assert requests == [path.as_uri()]
