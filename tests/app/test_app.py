"""`genjscc app` without a browser: uploads, the JSON API, isolation of concurrent requests, cancel, curves."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from genjscc.app.work import prepare_upload

DEEPJSCC = "deepjscc-paper-64-bcr1_12"


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def server():
    from genjscc.app import make_server

    app = make_server("127.0.0.1", 0, quiet=True)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    yield app
    app.shutdown()
    app.server_close()


def call(server, path: str, document: dict | None = None) -> tuple[int, dict, dict]:
    """(status, JSON body, headers) of a GET (no document) or a POST."""
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(server.url + path.lstrip("/"), data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def finished(server, job_id: str, until=lambda job: job["state"] in ("done", "failed", "cancelled")) -> dict:
    version = -1
    for _ in range(200):
        status, job, _ = call(server, f"/api/jobs/{job_id}?after={version}")
        assert status == 200
        if until(job):
            return job
        version = job["version"]
    raise AssertionError(f"job {job_id} did not get there: {job}")


def transmit_request(**fields) -> dict:
    request = {"task": "transmit", "image": {"photo": "chelsea"}, "schemes": [{"spec": DEEPJSCC}], "snr": 5, "seed": 0}
    request.update(fields)
    return request


# ----------------------------------------------------------------------------- uploads


def test_16_bit_and_transparent_uploads_are_converted_and_the_notes_say_so():
    rng = np.random.default_rng(0)
    deep = prepare_upload("deep.png", png_bytes(rng.integers(0, 65535, (80, 100), dtype=np.uint16)), 64)
    assert any("16-bit" in n for n in deep.notes) and any("centre-cropped 100x80 to 80x80" in n for n in deep.notes)
    rgba = rng.integers(0, 255, (64, 64, 4), dtype=np.uint8)
    rgba[..., 3] = 0  # fully transparent: composited on white
    clear = prepare_upload("clear.png", png_bytes(rgba), 64)
    assert any("transparent" in n for n in clear.notes)
    assert torch.equal(clear.image, torch.ones(3, 64, 64))
    assert not any("resized" in n for n in clear.notes)  # already 64x64: nothing resized
    for prepared in (deep, clear):  # 8-bit values: the PNG the page shows is exactly what is sent
        assert prepared.image.shape == (3, 64, 64)
        assert torch.equal(prepared.image, (prepared.image * 255).round() / 255)


def test_tiny_and_huge_uploads_are_refused_with_clear_messages(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from genjscc.cli import app
    from genjscc.utils.images import DataError

    with pytest.raises(DataError, match=r"image tiny.png is 10x12, smaller than the 64x64 .* upload a larger image"):
        prepare_upload("tiny.png", png_bytes(np.zeros((12, 10, 3), np.uint8)), 64)
    monkeypatch.setenv("GENJSCC_MAX_PIXELS", "1000")
    big = png_bytes(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(DataError) as caught:
        prepare_upload("dir/big.png", big, 64)  # only the base name is kept
    (tmp_path / "big.png").write_bytes(big)
    monkeypatch.chdir(tmp_path)
    cli = CliRunner().invoke(app, ["transmit", DEEPJSCC, "big.png", "-o", "out.png"])
    assert cli.exit_code == 2
    assert str(caught.value) == cli.output.strip().removeprefix("error: ")
    assert "GENJSCC_MAX_PIXELS" in str(caught.value)


# ----------------------------------------------------------------------------- the API


def test_page_is_offline_and_served_with_a_policy_that_keeps_it_so(server):
    with urllib.request.urlopen(server.url) as response:
        page = response.read().decode()
        policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "font-src 'none'" in policy
    script = urllib.request.urlopen(server.url + "static/app.js").read().decode()
    style = urllib.request.urlopen(server.url + "static/app.css").read().decode()
    for text in (page, script, style):
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, flags=re.I)  # no outside host anywhere
        assert "@import" not in text and "@font-face" not in text


def test_choices_list_the_registries(server):
    from genjscc.channel.registry import CHANNELS
    from genjscc.schemes import SCHEMES
    from genjscc.zoo import ZOO

    status, choices, _ = call(server, "/api/choices")
    assert status == 200
    specs = [s["spec"] for s in choices["schemes"]]
    assert [n for n, e in ZOO.items() if e.kind in SCHEMES] == specs[: len(specs) - 2]
    assert specs[-2:] == ["separation", "inverse"]
    channels = choices["channels"]  # one name per registered channel, aliases (block-rayleigh) left out
    assert set(channels) <= set(CHANNELS) and len(channels) == len({id(f) for f in CHANNELS.values()})
    assert {"awgn", "rayleigh", "fast-rayleigh", "rician", "ofdm-tdl-c"} <= set(channels)
    assert "block-rayleigh" not in channels
    assert choices["photos"] == ["chelsea", "coffee", "flower"]


def test_bad_requests_get_400_with_a_message_and_queue_nothing(server):
    cases = {
        "scheme '/etc/passwd' is not offered": transmit_request(schemes=[{"spec": "/etc/passwd"}]),
        "separation has no option level": transmit_request(schemes=[{"spec": "separation", "options": {"level": 3}}]),
        "codec: 'gif' is not offered": transmit_request(schemes=[{"spec": "separation", "options": {"codec": "gif"}}]),
        "ILO steps must lie in 1..1000": transmit_request(schemes=[{"spec": "inverse", "options": {"steps": "0"}}]),
        "channel must be one of": transmit_request(channel="ofdm-nowhere"),
        "no held-out photo 'astronaut'": transmit_request(image={"photo": "astronaut"}),
        "choose at least one scheme": transmit_request(schemes=[]),
        "snr must be a number": transmit_request(snr="loud"),
    }
    for message, request in cases.items():
        status, body, _ = call(server, "/api/jobs", request)
        assert status == 400 and message in body["error"], (message, body)


def test_two_tabs_at_once_get_their_own_results(server):
    """Two requests in flight together: each job returns its own SNR's reconstruction (= a direct send)."""
    from genjscc.app.work import prepare_photo
    from genjscc.channel import AWGN
    from genjscc.evaluation.evaluate import transmit_checked
    from genjscc.metrics import psnr
    from genjscc.schemes import build_scheme

    requests = [transmit_request(snr=-5, seed=1), transmit_request(snr=10, seed=2, image={"photo": "flower"})]
    submitted = [call(server, "/api/jobs", r)[1] for r in requests]  # both queued before either is read back
    jobs = [finished(server, s["job"]) for s in submitted]
    scheme = build_scheme(DEEPJSCC)
    for request, job in zip(requests, jobs):
        assert job["state"] == "done"
        tile = job["result"]["tiles"][0]
        x = prepare_photo(request["image"]["photo"], 64).image.unsqueeze(0)
        expected = psnr(transmit_checked(scheme, x, AWGN(), request["snr"],
                                         generator=torch.Generator().manual_seed(request["seed"])).images, x)
        assert tile["psnr"] == pytest.approx(expected.item(), abs=1e-4)
        assert job["result"]["snr"] == request["snr"] and job["result"]["seed"] == request["seed"]
    assert submitted[0]["original"] != submitted[1]["original"]
    assert call(server, "/api/jobs/not-a-job")[0] == 404


def test_a_scheme_that_cannot_send_the_size_gets_an_error_tile_the_others_still_send(server):
    request = transmit_request(size=32, schemes=[{"spec": "generative-64-bcr1_48"}, {"spec": DEEPJSCC}])
    job = finished(server, call(server, "/api/jobs", request)[1]["job"])
    failed, sent = job["result"]["tiles"]
    assert failed["error"] and "psnr" not in failed
    assert sent["psnr"] > 10 and sent["channel_uses"] == 32 * 32 * 3 // 12


def test_native_size_sends_the_whole_photo_as_transmit_does_and_generative_schemes_get_an_error_tile(server):
    """size "native": chelsea whole (451x300), the reconstruction equals `genjscc transmit`'s on that image; the
    generative scheme, which takes only 64x64, gets an error tile naming its size."""
    from genjscc.app.work import prepare_photo
    from genjscc.channel import AWGN
    from genjscc.data import photo_images
    from genjscc.evaluation.evaluate import transmit_checked
    from genjscc.schemes import build_scheme

    status, choices, _ = call(server, "/api/choices")
    assert status == 200 and choices["sizes"][-1] == "native"
    request = transmit_request(size="native", schemes=[{"spec": "generative-64-bcr1_48"}, {"spec": DEEPJSCC}])
    status, submitted, _ = call(server, "/api/jobs", request)
    assert status == 200 and (submitted["width"], submitted["height"]) == (451, 300)
    assert any("sent whole at its own size, 451x300" in n for n in submitted["notes"])
    job = finished(server, submitted["job"])
    failed, sent = job["result"]["tiles"]
    assert "decodes 64x64 images" in failed["error"]
    with Image.open(io.BytesIO(base64.b64decode(sent["image"].split(",", 1)[1]))) as im:
        shown = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
    x = prepare_photo("chelsea", "native").image
    assert torch.equal(x, photo_images("test")[0].float() / 255)
    expected = transmit_checked(build_scheme(DEEPJSCC), x.unsqueeze(0), AWGN(), 5,
                                generator=torch.Generator().manual_seed(0)).images[0]
    assert torch.equal(shown, (expected * 255).round().byte())
    assert sent["channel_uses"] == 32 * 38 * 57 // 2  # C = 32 over the padded 304x456 image's 38x57 grid


def test_native_uploads_are_whole_and_the_largest_are_refused(monkeypatch):
    import genjscc.app.choices
    from genjscc.app.forms import read_form
    from genjscc.utils.images import DataError

    rng = np.random.default_rng(1)
    prepared = prepare_upload("odd.png", png_bytes(rng.integers(0, 255, (37, 50, 3), dtype=np.uint8)), "native")
    assert prepared.image.shape == (3, 37, 50) and not any("centre-cropped" in n for n in prepared.notes)
    assert "sent whole at its own size, 50x37 (not cropped or resized)" in prepared.notes
    monkeypatch.setattr(genjscc.app.choices, "NATIVE_MAX_PIXELS", 37 * 50 - 1)
    with pytest.raises(DataError, match=r"odd.png is 50x37 = 1,850 pixels.*choose a square size"):
        prepare_upload("odd.png", png_bytes(rng.integers(0, 255, (37, 50, 3), dtype=np.uint8)), "native")
    assert read_form(transmit_request(size="native")).size == "native"
    for bad in ("Native", 48, True):
        with pytest.raises(ValueError, match="size must be one of 32, 64, 128, 256, native"):
            read_form(transmit_request(size=bad))


def test_inversion_reports_progress_and_stops_when_cancelled(server):
    request = transmit_request(schemes=[{"spec": "inverse", "options": {"jscc": DEEPJSCC, "steps": "1000"}}])
    job_id = call(server, "/api/jobs", request)[1]["job"]
    running = finished(server, job_id, until=lambda job: "ILO step" in job["message"] or job["state"] != "queued"
                       and job["state"] != "running")
    assert re.search(r"ILO step \d+/1000", running["message"]), running
    assert call(server, f"/api/jobs/{job_id}/cancel", {})[0] == 200
    job = finished(server, job_id)
    assert job["state"] == "cancelled" and job["result"] is None


def test_curve_is_drawn_by_the_plot_commands_code(server, tmp_path):
    from typer.testing import CliRunner

    from genjscc.cli import app
    from genjscc.evaluation.records import read_records

    request = transmit_request(task="curve", curve={"from": -5, "to": 5, "step": 5, "metric": "psnr"}, seed=4)
    job = finished(server, call(server, "/api/jobs", request)[1]["job"])
    assert job["state"] == "done", job
    (tmp_path / "curve.csv").write_text(job["result"]["csv"])
    records = read_records(tmp_path / "curve.csv")
    assert sorted({r.snr_db for r in records}) == [-5.0, 0.0, 5.0]
    assert {r.metric for r in records} == {"psnr", "ms-ssim", "lpips-alex"}
    cli = CliRunner().invoke(app, ["plot", str(tmp_path / "curve.csv"), "-o", str(tmp_path / "plot.png"),
                                   "--title", "chelsea, awgn, seed 4"])
    assert cli.exit_code == 0, cli.output
    shown = base64.b64decode(job["result"]["image"].split(",", 1)[1])
    assert shown == (tmp_path / "plot.png").read_bytes()


def test_cli_app_refuses_a_bad_port_or_thread_count_and_a_busy_port():
    import socket

    from typer.testing import CliRunner

    from genjscc.cli import app

    result = CliRunner().invoke(app, ["app", "--port", "70000"])
    assert result.exit_code == 2 and "--port must lie in 0..65535" in result.output
    result = CliRunner().invoke(app, ["app", "--threads", "0"])
    assert result.exit_code == 2 and "--threads must be at least 1" in result.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["app", "--port", str(port)])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output


def test_an_upload_over_the_size_limit_gets_413_and_a_message(server, monkeypatch):
    import genjscc.app.server

    monkeypatch.setattr(genjscc.app.server, "MAX_REQUEST_BYTES", 2**20)
    data = base64.b64encode(bytes(2**20)).decode()
    status, body, _ = call(server, "/api/jobs", transmit_request(image={"upload": {"name": "big.png", "data": data}}))
    assert status == 413 and "more than the app's limit of 1 MB" in body["error"]


def test_upload_names_cannot_leave_the_private_folder():
    from genjscc.app.work import upload_name

    assert upload_name("../../etc/passwd") == "passwd"
    assert upload_name("C:\\\\Users\\\\me\\\\cat.png") == "cat.png"
    assert upload_name("..") == upload_name("") == upload_name("dir/..") == "upload"
    long = upload_name("x" * 300 + ".png")
    assert len(long) <= 120 and long.endswith(".png")
    prepared = prepare_upload("../" + "y" * 300 + ".png", png_bytes(np.zeros((64, 64, 3), np.uint8)), 64)
    assert prepared.source.endswith(".png") and "/" not in prepared.source
