"""Headless chromium driving the page: the browser test, the latency benchmark and the README screenshot.

Uses Debian's ``chromium`` and ``chromium-driver`` through selenium (installed by ``.ci/run`` and
``genjscc[dev]``; the app itself never needs them). The flags keep the browser off the network:
on a closed network chromium otherwise retries its background services without end.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["CHROMIUM_FLAGS", "find_chromium", "start_chromium"]

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1200,1400")


def find_chromium() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def start_chromium(profile: str | Path):
    """A selenium driver for a fresh headless chromium whose profile lives in ``profile`` (a new folder)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    found = find_chromium()
    if found is None:
        raise RuntimeError("chromium and chromium-driver are not installed: apt-get install chromium chromium-driver")
    options = Options()
    options.binary_location = found[0]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    driver.set_page_load_timeout(30)
    return driver
