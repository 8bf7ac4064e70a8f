"""`genjscc fetch-photos` (genjscc.data.fetch_photos): the pinned fetch of Debian photographs.

Every test but the last runs offline on a fixture built here: a fake .deb (an ar archive whose
data.tar.xz holds two small images) and a matching tiny manifest. The last one runs the real
fetch when GENJSCC_TEST_DEBS names a folder holding the pinned .debs.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.data import fetch_photos as fp
from genjscc.data.fetch_photos import FetchError, check_manifest, fetch_photos, read_deb_members

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "lomiri-wallpapers-16.04"  # the fixture poses as an allowed package; its content is made up
VERSION = "0.1-1"
FILENAME = f"pool/main/l/lomiri-wallpapers/{PACKAGE}_{VERSION}_all.deb"
BIG, SMALL = "usr/share/backgrounds/big_by_Test.png", "usr/share/backgrounds/small_by_Test.jpg"
LIMIT = 16  # the long-side limit the fixture is fetched with: BIG exceeds it, SMALL does not


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _image_bytes(size: tuple[int, int], mode: str, fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buf, format=fmt)
    return buf.getvalue()


def _tar(files: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ar(members: dict[str, bytes]) -> bytes:
    """An ar archive in the common format dpkg writes (60-byte headers, members padded to even length)."""
    out = [b"!<arch>\n"]
    for name, data in members.items():
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        assert len(header) == 60
        out += [header, data, b"\n" if len(data) % 2 else b""]
    return b"".join(out)


def _deb(files: dict[str, bytes], data_member: str = "data.tar.xz") -> bytes:
    mode = {"data.tar.xz": "w:xz", "data.tar.gz": "w:gz"}.get(data_member)
    data = _tar(files, mode) if mode else b"not a tar"
    return _ar({"debian-binary": b"2.0\n", "control.tar.xz": _tar({}, "w:xz"), data_member: data})


@pytest.fixture
def fixture(tmp_path):
    """(debs folder, manifest, originals): a fake pinned package holding BIG (train) and SMALL (test)."""
    originals = {BIG: _image_bytes((40, 30), "RGB", "PNG", 0), SMALL: _image_bytes((12, 9), "L", "JPEG", 1)}
    debs = tmp_path / "debs"
    debs.mkdir()
    deb = _deb(originals)
    (debs / Path(FILENAME).name).write_bytes(deb)
    manifest = {
        "description": "test fixture",
        "packages": {PACKAGE: {"version": VERSION, "source": "lomiri-wallpapers", "filename": FILENAME,
                               "sha256": _sha(deb)}},
        "photos": [
            {"name": "big_by_Test", "split": "train", "package": PACKAGE, "path": BIG, "sha256": _sha(originals[BIG]),
             "licence": "CC0-1.0", "author": "Test"},
            {"name": "small_by_Test", "split": "test", "package": PACKAGE, "path": SMALL,
             "sha256": _sha(originals[SMALL]), "licence": "CC-BY-4.0", "author": "Test"},
        ],
    }
    return debs, manifest, originals


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``folder`` (hidden temporaries included) with its inode and mtime."""
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


@pytest.mark.parametrize("data_member", ["data.tar.xz", "data.tar.gz"])
def test_photos_land_in_their_split_resized_to_the_long_side(tmp_path, fixture, data_member):
    debs, manifest, originals = fixture
    deb = _deb(originals, data_member)
    (debs / Path(FILENAME).name).write_bytes(deb)
    manifest["packages"][PACKAGE]["sha256"] = _sha(deb)
    out = tmp_path / "out"
    result = fetch_photos(out, debs=debs, manifest=manifest, long_side=LIMIT)
    assert sorted(result.written) == ["big_by_Test", "small_by_Test"] and result.kept == []
    assert sorted(_files(out)) == ["manifest.json", "test/small_by_Test.png", "train/big_by_Test.png"]

    big = Image.open(out / "train/big_by_Test.png")
    assert big.mode == "RGB" and big.size == (16, 12)  # 40x30 scaled by 16/40
    expected = Image.open(io.BytesIO(originals[BIG])).convert("RGB").resize((16, 12), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(big), np.asarray(expected))
    small = Image.open(out / "test/small_by_Test.png")
    assert small.mode == "RGB" and small.size == (12, 9)  # long side 12 <= 16: kept, grayscale made RGB
    assert np.array_equal(np.asarray(small), np.asarray(Image.open(io.BytesIO(originals[SMALL])).convert("RGB")))

    record = json.loads((out / "manifest.json").read_text())
    assert record["resize"]["long_side"] == LIMIT
    outputs = {photo["name"]: photo["output"] for photo in record["photos"]}
    assert outputs["big_by_Test"] == {"file": "train/big_by_Test.png", "width": 16, "height": 12,
                                      "sha256": _sha((out / "train/big_by_Test.png").read_bytes())}
    assert record["photos"][1]["licence"] == "CC-BY-4.0" and record["packages"] == manifest["packages"]


def test_output_folder_is_a_dataset_with_its_split(tmp_path, fixture):
    from genjscc.data import FolderImages

    debs, manifest, _ = fixture
    fetch_photos(tmp_path / "out", debs=debs, manifest=manifest, long_side=LIMIT)
    images = FolderImages(tmp_path / "out", 8)
    assert [im.path.name for im in images.split("train")] == ["big_by_Test.png"]
    assert [im.path.name for im in images.split("test")] == ["small_by_Test.png"]


def test_rerun_with_everything_present_does_nothing(tmp_path, fixture):
    debs, manifest, _ = fixture
    out = tmp_path / "out"
    fetch_photos(out, debs=debs, manifest=manifest, long_side=LIMIT)
    before = _files(out)
    # No .deb is needed: the folder given does not even exist.
    result = fetch_photos(out, debs=tmp_path / "gone", manifest=manifest, long_side=LIMIT)
    assert result.written == [] and result.removed == [] and sorted(result.kept) == ["big_by_Test", "small_by_Test"]
    assert _files(out) == before


def test_a_changed_output_is_made_again_and_only_it(tmp_path, fixture):
    debs, manifest, _ = fixture
    out = tmp_path / "out"
    fetch_photos(out, debs=debs, manifest=manifest, long_side=LIMIT)
    good = (out / "test/small_by_Test.png").read_bytes()
    (out / "test/small_by_Test.png").write_bytes(b"damaged")
    result = fetch_photos(out, debs=debs, manifest=manifest, long_side=LIMIT)
    assert result.written == ["small_by_Test"] and result.kept == ["big_by_Test"]
    assert (out / "test/small_by_Test.png").read_bytes() == good


def test_a_photo_moved_to_the_other_split_leaves_no_copy_behind(tmp_path, fixture):
    debs, manifest, _ = fixture
    out = tmp_path / "out"
    fetch_photos(out, debs=debs, manifest=manifest, long_side=LIMIT)
    moved = copy.deepcopy(manifest)
    moved["photos"][1]["split"] = "train"
    result = fetch_photos(out, debs=debs, manifest=moved, long_side=LIMIT)
    assert result.removed == ["test/small_by_Test.png"]
    assert sorted(_files(out)) == ["manifest.json", "train/big_by_Test.png", "train/small_by_Test.png"]


def test_wrong_deb_hash_is_one_clear_error_and_writes_nothing(tmp_path, fixture):
    debs, manifest, _ = fixture
    manifest["packages"][PACKAGE]["sha256"] = "0" * 64
    out = tmp_path / "out"
    with pytest.raises(FetchError, match=rf"sha256 [0-9a-f]{{64}} is not the pinned 0{{64}} of {PACKAGE} {VERSION}"):
        fetch_photos(out, debs=debs, manifest=manifest, long_side=LIMIT)
    assert _files(out) == {}


def test_wrong_photo_hash_is_one_clear_error_and_writes_nothing(tmp_path, fixture):
    debs, manifest, _ = fixture
    manifest["photos"][1]["sha256"] = "f" * 64  # the second photo: the first must not be written either
    out = tmp_path / "out"
    with pytest.raises(FetchError, match=rf"{PACKAGE} {SMALL}: sha256 [0-9a-f]{{64}} is not the pinned f{{64}}.*"
                                         r"nothing was written"):
        fetch_photos(out, debs=debs, manifest=manifest, long_side=LIMIT)
    assert _files(out) == {}


def test_missing_deb_names_the_file_and_where_to_get_it(tmp_path, fixture):
    debs, manifest, _ = fixture
    (debs / Path(FILENAME).name).unlink()
    with pytest.raises(FetchError, match=rf"has no {re.escape(Path(FILENAME).name)}.*snapshot.debian.org"):
        fetch_photos(tmp_path / "out", debs=debs, manifest=manifest)


def test_other_compressions_are_refused_by_name(tmp_path):
    deb = tmp_path / "x.deb"
    deb.write_bytes(_deb({}, "data.tar.zst"))
    with pytest.raises(FetchError, match="data.tar.zst.*data.tar.xz and data.tar.gz only"):
        read_deb_members(deb, [BIG])
    deb.write_bytes(b"PK\x03\x04 a zip")
    with pytest.raises(FetchError, match="not a Debian package"):
        read_deb_members(deb, [BIG])


def test_apt_failure_names_package_pinned_version_and_the_offline_way(tmp_path, fixture, monkeypatch):
    _, manifest, _ = fixture

    def no_such_version(args, **kwargs):
        assert args == ["apt-get", "download", f"{PACKAGE}={VERSION}"]
        return subprocess.CompletedProcess(args, 100, "", f"E: Version '{VERSION}' for '{PACKAGE}' was not found\n")

    monkeypatch.setattr(fp.subprocess, "run", no_such_version)
    with pytest.raises(FetchError, match=rf"apt-get cannot download {PACKAGE}={VERSION}, the version the manifest "
                                         rf"pins \(E: Version.*--debs FOLDER"):
        fetch_photos(tmp_path / "out", manifest=manifest)
    assert not (tmp_path / "out").exists()

    def no_apt(args, **kwargs):
        raise FileNotFoundError("apt-get")

    monkeypatch.setattr(fp.subprocess, "run", no_apt)
    with pytest.raises(FetchError, match="apt-get not found.*--debs FOLDER"):
        fetch_photos(tmp_path / "out", manifest=manifest)


def test_manifest_check_refuses_other_packages_and_overlapping_splits(fixture):
    _, manifest, _ = fixture
    other = copy.deepcopy(manifest)
    other["packages"]["kodak-photos"] = other["packages"].pop(PACKAGE)
    with pytest.raises(FetchError, match="package kodak-photos is not one of the allowed"):
        check_manifest(other)
    both = copy.deepcopy(manifest)
    both["photos"].append({**both["photos"][0], "name": "big_again", "split": "test"})
    with pytest.raises(FetchError, match="sha256 [0-9a-f]{64} appears twice"):
        check_manifest(both)
    unsafe = copy.deepcopy(manifest)
    unsafe["photos"][0]["name"] = "../escape"
    with pytest.raises(FetchError, match="plain file stem"):
        check_manifest(unsafe)


ALLOWED = {"gnome-backgrounds", "lomiri-wallpapers", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04",
           "ukui-wallpapers", "sway-backgrounds", "desktop-base"}


def test_shipped_manifest_is_well_formed():
    manifest = json.loads(fp.MANIFEST.read_text())
    check_manifest(manifest)
    hex64 = re.compile(r"[0-9a-f]{64}")
    assert manifest["packages"] and set(manifest["packages"]) <= ALLOWED
    for entry in manifest["packages"].values():
        assert entry["version"] and hex64.fullmatch(entry["sha256"])
        assert entry["filename"].startswith("pool/main/") and entry["filename"].endswith("_all.deb")
    splits = {"train": set(), "test": set()}
    for photo in manifest["photos"]:
        assert photo["package"] in manifest["packages"]
        assert hex64.fullmatch(photo["sha256"]) and photo["split"] in splits
        assert photo["licence"] in manifest["licences"] and photo["author"].strip()
        assert photo["path"] == f"usr/share/backgrounds/{photo['name']}.jpg"
        splits[photo["split"]].add(photo["name"])
    assert not splits["train"] & splits["test"]
    assert (len(splits["train"]), len(splits["test"])) == (10, 4)
    assert len({photo["sha256"] for photo in manifest["photos"]}) == len(manifest["photos"])
    assert "excluded" in manifest


def test_shipped_manifest_ships_in_the_wheel():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert fp.MANIFEST.name in package_data["genjscc.data"]


def test_command_fetches_and_reports(tmp_path, fixture, monkeypatch):
    debs, manifest, _ = fixture
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    monkeypatch.setattr(fp, "MANIFEST", path)  # the command reads the shipped manifest; here, the fixture's
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["fetch-photos", str(out), "--debs", str(debs)])
    assert result.exit_code == 0, result.output
    assert f"wrote 2, kept 0; train with --data folder:{out}" in result.output
    result = CliRunner().invoke(app, ["fetch-photos", str(out), "--debs", str(debs)])
    assert result.exit_code == 0 and "all 2 photographs present and verified; nothing to do" in result.output

    manifest["packages"][PACKAGE]["sha256"] = "0" * 64
    path.write_text(json.dumps(manifest))
    result = CliRunner().invoke(app, ["fetch-photos", str(tmp_path / "other"), "--debs", str(debs)])
    assert result.exit_code == 2 and "error: " in result.output and "is not the pinned" in result.output
    assert not (tmp_path / "other").exists()


def test_command_help_names_licences_and_the_resize_rule():
    result = CliRunner().invoke(app, ["fetch-photos", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for words in ("CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "768", "LANCZOS", "--debs", "folder:OUT"):
        assert words in result.output


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("GENJSCC_TEST_DEBS"),
                    reason="set GENJSCC_TEST_DEBS to a folder holding the pinned .debs")
def test_real_fetch_from_the_pinned_debs(tmp_path):
    """The shipped manifest against the real packages: every hash checked, 14 PNGs, long side at most 768."""
    result = fetch_photos(tmp_path / "out", debs=os.environ["GENJSCC_TEST_DEBS"])
    assert len(result.written) == 14
    for png in (tmp_path / "out").rglob("*.png"):
        assert max(Image.open(png).size) <= 768
