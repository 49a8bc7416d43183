"""The demo shop in a real browser (Debian's Chromium via Playwright) against the real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_serving_e2e import Server

CHROMIUM = os.environ.get("SEMREC_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def open_server(shop_artifacts: dict[str, Path], tmp_path: Path) -> Iterator[Server]:
    config = tmp_path / "semrec.toml"
    config.write_text(
        f'artifacts = "{shop_artifacts["lmrec"]}"\ndatabase = "{tmp_path / "demo.db"}"\n'
        'anonymous_scopes = ["read", "write"]\n'
        '[[api_keys]]\nname = "ops"\nkey = "demo-admin"\nscopes = ["read", "write", "admin"]\n'
    )
    running = Server(config)
    running.start()
    yield running
    running.stop()


def test_clicks_change_recommendations_and_search_finds_products(open_server: Server) -> None:
    if not Path(CHROMIUM).is_file():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(open_server.url + "/")
        cards = page.locator("[data-testid=results] .card")
        expect(cards.first).to_be_visible(timeout=20_000)
        expect(page.locator("#results-note")).to_contain_text("Popular")
        before = cards.evaluate_all("cards => cards.map(c => c.dataset.itemId)")
        # each list names its arm and request id; the A/B report needs an admin key
        expect(page.locator("[data-testid=results-request]")).to_contain_text(
            "arm main · request recommendations."
        )
        expect(page.locator("[data-testid=experiment]")).to_contain_text("admin key")
        page.fill("#api-key", "demo-admin")
        page.dispatch_event("#api-key", "change")
        expect(page.locator("[data-testid=experiment] li[data-arm=main]")).to_contain_text("CTR 0.00%")

        page.locator("[data-testid=results] .card[data-item-id='hair-1']").click()
        expect(page.locator("#results-note")).to_contain_text("Personal", timeout=20_000)
        expect(page.locator("[data-testid=similar] button").first).to_be_visible()
        after = cards.evaluate_all("cards => cards.map(c => c.dataset.itemId)")
        assert after != before and "hair-1" not in after
        expect(page.locator("[data-testid=results] .card").first).to_contain_text("because you clicked")
        expect(page.locator("[data-testid=profile]")).to_contain_text("1 event")
        expect(page.locator("#status")).to_contain_text("model lmrec@")
        # the click carried its answer's request id: the arm's live CTR counts it
        expect(page.locator("[data-testid=experiment] li[data-arm=main]")).to_contain_text("1 clicks")
        expect(page.locator("[data-testid=similar-request]")).to_contain_text("request similar.")

        page.fill("#search-input", "shampoo")
        page.press("#search-input", "Enter")
        expect(page.locator("#results-title")).to_contain_text("shampoo")
        expect(page.locator("[data-testid=results] .card").first).to_contain_text("Shampoo")
        page.screenshot(path=str(SCREENSHOTS / "demo-shop.png"), full_page=True)
        browser.close()
