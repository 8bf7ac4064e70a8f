"""`genjscc app`: time from submit to picture for one scheme at 64x64 (target: <= 1 s on 2 CPU cores).

    python benchmarks/app_latency.py [--scheme deepjscc-64-bcr1_12] [--repeats 20] [--threads 2]
                                     [--warm-up SECONDS] [--browser] [--screenshot results/figures/app.png]

Starts the app in this process on a free local port. **HTTP**: a client posts the request
(held-out photo ``chelsea``, AWGN, 5 dB) and follows the job (long poll) until the result with
the reconstruction's PNG arrives; the first request is *cold* (the scheme and LPIPS load), the
others *warm*; with ``--warm-up S`` the server loads the scheme at start as ``genjscc app`` does
and the first request is sent S seconds later. **--browser**: the same in headless chromium, from the click on Send until the
reconstruction's image is in the page. Prints the cold time and the warm median / 90th
percentile / minimum in ms. ``--screenshot PATH`` then sends the photo through several schemes
(DeepJSCC, GenerativeJSCC, WebP + ideal code, InverseJSCC 50 steps) at 0 dB, draws the PSNR
curve, and saves the page (the README's picture).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def http_round(url: str, request: dict) -> float:
    """Seconds from posting ``request`` to holding the finished job's result (with its picture)."""
    started = time.perf_counter()
    post = urllib.request.Request(url + "api/jobs", data=json.dumps(request).encode(),
                                  headers={"Content-Type": "application/json"})
    job_id = json.loads(urllib.request.urlopen(post).read())["job"]
    version = -1
    while True:
        job = json.loads(urllib.request.urlopen(f"{url}api/jobs/{job_id}?after={version}").read())
        version = job["version"]
        if job["state"] == "done":
            assert job["result"]["tiles"][0]["image"].startswith("data:image/png"), job["result"]["tiles"][0]
            return time.perf_counter() - started
        if job["state"] in ("failed", "cancelled"):
            raise RuntimeError(f"the job {job['state']}: {job['error']}")


def browser_rounds(url: str, scheme: str, repeats: int, profile: Path) -> list[float]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from genjscc.app.headless import start_chromium

    driver = start_chromium(profile)
    try:
        driver.get(url)
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".scheme-check"))
        choose(driver, {scheme})
        times = []
        for _ in range(repeats + 1):
            driver.execute_script("document.getElementById('results').replaceChildren()")
            started = time.perf_counter()
            driver.find_element(By.ID, "send").click()
            WebDriverWait(driver, 60, poll_frequency=0.005).until(
                lambda d: d.execute_script("const i = document.querySelector('figure.reconstruction img');"
                                           "return i !== null && i.complete && i.naturalWidth > 0;"))
            times.append(time.perf_counter() - started)
            WebDriverWait(driver, 30).until(lambda d: not d.find_element(By.ID, "send").get_attribute("disabled"))
        return times
    finally:
        driver.quit()


def choose(driver, specs: set[str]) -> None:
    from selenium.webdriver.common.by import By

    for box in driver.find_elements(By.CSS_SELECTOR, ".scheme-check"):
        if box.is_selected() != (box.get_attribute("data-spec") in specs):
            box.click()


def screenshot(url: str, path: Path, profile: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from genjscc.app.headless import start_chromium

    driver = start_chromium(profile)
    try:
        driver.set_window_size(1200, 1700)
        driver.get(url)
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".scheme-check"))
        choose(driver, {"deepjscc-64-bcr1_48", "generative-64-bcr1_48", "separation", "inverse"})
        Select(driver.find_element(By.CSS_SELECTOR, "[data-option='bcr']")).select_by_value("1/48")
        driver.execute_script("const s = document.getElementById('snr'); s.value = '0';"
                              "s.dispatchEvent(new Event('input'));")
        driver.find_element(By.ID, "send").click()
        WebDriverWait(driver, 600).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "figure.reconstruction")) == 4)
        driver.find_element(By.ID, "curve-button").click()
        WebDriverWait(driver, 900).until(lambda d: d.find_element(By.ID, "curve").get_attribute("src"))
        WebDriverWait(driver, 30).until(lambda d: not d.find_element(By.ID, "send").get_attribute("disabled"))
        path.parent.mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1200, height + 250)  # the window's own frame takes part of its height
        driver.save_screenshot(str(path))
    finally:
        driver.quit()


def summary(name: str, times: list[float]) -> str:
    warm = sorted(times[1:])
    p90 = warm[min(len(warm) - 1, round(0.9 * (len(warm) - 1)))]
    return (f"{name:8s} cold {times[0] * 1e3:7.1f} ms   warm median {statistics.median(warm) * 1e3:6.1f} ms   "
            f"p90 {p90 * 1e3:6.1f} ms   min {warm[0] * 1e3:6.1f} ms   ({len(warm)} warm rounds)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scheme", default="deepjscc-64-bcr1_12")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target is for 2 cores)")
    parser.add_argument("--warm-up", type=float, default=0.0, metavar="SECONDS",
                        help="start the server as `genjscc app` does (loading the scheme) and wait this long first")
    parser.add_argument("--browser", action="store_true", help="also time it in headless chromium")
    parser.add_argument("--screenshot", type=Path, help="save the README's screenshot of the page here")
    args = parser.parse_args(argv)

    import torch

    from genjscc.app import make_server

    torch.set_num_threads(args.threads)
    server = make_server("127.0.0.1", 0, quiet=True, warm=args.scheme if args.warm_up else None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if args.warm_up:  # as `genjscc app` starts: the first request queues behind the warm-up until it is done
        time.sleep(args.warm_up)
    request = {"task": "transmit", "image": {"photo": "chelsea"}, "size": 64, "schemes": [{"spec": args.scheme}],
               "channel": "awgn", "snr": 5, "seed": 0}
    print(f"{args.scheme}, 64x64, AWGN 5 dB, torch threads {torch.get_num_threads()}", file=sys.stderr)
    try:
        print(summary("http", [http_round(server.url, request) for _ in range(args.repeats + 1)]))
        with tempfile.TemporaryDirectory(prefix="genjscc-bench-") as folder:
            if args.browser:
                print(summary("browser", browser_rounds(server.url, args.scheme, args.repeats, Path(folder) / "b")))
            if args.screenshot:
                screenshot(server.url, args.screenshot, Path(folder) / "s")
                print(f"wrote {args.screenshot}")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
