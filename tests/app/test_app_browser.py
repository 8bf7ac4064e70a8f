"""`genjscc app` driven from a real headless browser (Debian's chromium + chromium-driver, selenium).

The page is loaded from a server on a free local port; a held-out photo is sent through a
DeepJSCC and the PSNR the page shows must equal what `genjscc transmit` prints for the image
the page shows as sent (same seed and SNR); a text file uploaded instead gets the CLI's error;
two tabs sending at once each show their own result. Each case saves a screenshot under the
test's tmp folder. `.ci/run` installs the browser; where
it is missing these tests are skipped with the reason.
"""

from __future__ import annotations

import base64
import re
import threading

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (genjscc[dev] installs it)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from genjscc.app.headless import find_chromium, start_chromium  # noqa: E402

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="chromium and chromium-driver are not installed (.ci/run installs them)")


@pytest.fixture
def app_url():
    from genjscc.app import make_server

    server = make_server("127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser(tmp_path):
    driver = start_chromium(tmp_path / "profile")
    yield driver
    driver.quit()


def load_page(browser, url):
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".scheme-check"))


def choose_only(browser, spec):
    for box in browser.find_elements(By.CSS_SELECTOR, ".scheme-check"):
        if box.is_selected() != (box.get_attribute("data-spec") == spec):
            box.click()


def set_snr(browser, value):
    browser.execute_script("const s = document.getElementById('snr'); s.value = arguments[0];"
                           "s.dispatchEvent(new Event('input'));", str(value))


def cli_transmit(args):
    from typer.testing import CliRunner

    from genjscc.cli import app

    return CliRunner().invoke(app, args)


def test_page_psnr_equals_cli_transmit(app_url, browser, tmp_path):
    load_page(browser, app_url)
    choose_only(browser, "deepjscc-paper-64-bcr1_12")
    browser.find_element(By.CSS_SELECTOR, "#photo option[value='coffee']").click()
    set_snr(browser, 2.5)
    browser.find_element(By.ID, "seed").clear()
    browser.find_element(By.ID, "seed").send_keys("3")
    assert browser.find_element(By.ID, "snr-value").text == "2.5 dB"
    browser.find_element(By.ID, "send").click()
    tile = WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "figure.reconstruction[data-spec='deepjscc-paper-64-bcr1_12']"))[0]
    shown = tile.find_element(By.CSS_SELECTOR, ".psnr").text
    assert re.fullmatch(r"PSNR \d+\.\d\d dB", shown), shown
    assert tile.find_element(By.TAG_NAME, "img").get_attribute("src").startswith("data:image/png;base64,")
    assert "awgn, 2.5 dB, seed 3" in tile.text
    assert "1024 channel uses (BCR 1/12)" in tile.text
    notes = browser.find_element(By.ID, "notes").text
    assert "centre-cropped" in notes and "resized" in notes and "64x64" in notes
    browser.save_screenshot(str(tmp_path / "app-transmit.png"))
    assert (tmp_path / "app-transmit.png").stat().st_size > 10_000

    # the CLI on the image the page shows as sent, same seed and SNR
    original = browser.find_element(By.CSS_SELECTOR, "figure.original img").get_attribute("src")
    sent = tmp_path / "sent.png"
    sent.write_bytes(base64.b64decode(original.split(",", 1)[1]))
    result = cli_transmit(["transmit", "deepjscc-paper-64-bcr1_12", str(sent), "-o", str(tmp_path / "out.png"),
                           "--snr", "2.5", "--seed", "3"])
    assert result.exit_code == 0, result.output
    cli_psnr = re.search(r"PSNR (\d+\.\d\d) dB", result.output).group(1)
    assert shown == f"PSNR {cli_psnr} dB"


def test_non_image_upload_gets_the_cli_error(app_url, browser, tmp_path, monkeypatch):
    notes = tmp_path / "notes.txt"
    notes.write_text("these are not pixels\n")
    monkeypatch.chdir(tmp_path)
    result = cli_transmit(["transmit", "deepjscc-paper-64-bcr1_12", "notes.txt", "-o", "out.png"])
    assert result.exit_code == 2
    cli_error = result.output.strip().removeprefix("error: ")
    assert cli_error.startswith("cannot read image notes.txt")

    load_page(browser, app_url)
    browser.find_element(By.ID, "upload").send_keys(str(notes))
    assert browser.find_element(By.ID, "source-upload").is_selected()
    browser.find_element(By.ID, "send").click()
    error = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "error").text)
    browser.save_screenshot(str(tmp_path / "app-bad-upload.png"))
    assert error == cli_error
    assert not browser.find_elements(By.CSS_SELECTOR, "figure.reconstruction")


def test_two_tabs_sending_at_once_each_show_their_own_result(app_url, browser, tmp_path):
    tabs = {}
    for snr, photo in ((-5, "flower"), (10, "chelsea")):
        if tabs:
            browser.switch_to.new_window("tab")
        load_page(browser, app_url)
        choose_only(browser, "deepjscc-paper-64-bcr1_12")
        browser.find_element(By.CSS_SELECTOR, f"#photo option[value='{photo}']").click()
        set_snr(browser, snr)
        tabs[browser.current_window_handle] = (snr, photo)
    for handle in tabs:  # both sent before either has its answer
        browser.switch_to.window(handle)
        browser.find_element(By.ID, "send").click()
    for handle, (snr, photo) in tabs.items():
        browser.switch_to.window(handle)
        tile = WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "figure.reconstruction"))
        assert len(tile) == 1 and f"awgn, {snr} dB, seed 0" in tile[0].text
        assert f"original ({photo})" in browser.find_element(By.CSS_SELECTOR, "figure.original").text
    browser.save_screenshot(str(tmp_path / "app-second-tab.png"))
