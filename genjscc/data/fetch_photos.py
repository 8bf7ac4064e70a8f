"""A pinned, reproducible fetch of real photographs from Debian wallpaper packages.

Why: the embedded ``photos`` set is small; training wants more real photographs, and they must be
the same bytes on every machine. The manifest shipped beside this module
(``debian_photos.json``) pins, for each Debian package, its version and the sha256 of its
``.deb``, and for each photograph the path inside the package, the sha256 of the original file,
its licence and author (from the package's ``/usr/share/doc/PKG/copyright``) and its split
(``train`` or ``test``, by whole image).

:func:`fetch_photos` gets each needed ``.deb`` (``apt-get download PKG=VERSION``, or a folder
that already holds it), checks its sha256, reads the photographs out of it in Python (a ``.deb``
is an ``ar`` archive holding ``data.tar.xz`` or ``data.tar.gz``; no dpkg-deb), checks each
photograph's sha256, and only then writes anything. Resize rule: photographs far larger than a
screen are brought to a Kodak-like scale (Kodak is 768 x 512): when the long side exceeds
``long_side`` (768), the image is scaled by ``long_side / max(w, h)`` with Pillow's LANCZOS
filter to ``(round(w s), round(h s))``; it is converted to RGB and saved as
``OUT/<split>/<name>.png``. Every file is written atomically; ``OUT/manifest.json`` (the
manifest used, with each output's size and sha256) comes last. A re-run finds the outputs
present and correct and does nothing; ``folder:OUT`` is then a dataset spec whose split is
``OUT/train`` and ``OUT/test``.

This module needs only the standard library and Pillow.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image

from genjscc.utils.atomic import atomic_path, atomic_write_text

__all__ = ["ALLOWED_PACKAGES", "LONG_SIDE", "MANIFEST", "FetchError", "FetchResult", "check_manifest",
           "fetch_photos", "load_manifest", "read_deb_members", "resize_photo"]

MANIFEST = Path(__file__).with_name("debian_photos.json")
LONG_SIDE = 768  # Kodak's long side (768 x 512)
SPLITS = ("train", "test")
RECORD = "manifest.json"  # OUT/manifest.json: the manifest used, with the outputs

# The only packages photographs may come from: images of other packages are kept for evaluation elsewhere.
ALLOWED_PACKAGES = frozenset({
    "gnome-backgrounds", "lomiri-wallpapers", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04",
    "ukui-wallpapers", "sway-backgrounds", "desktop-base",
})

_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # an output file stem: no separators, no leading dot


class FetchError(Exception):
    """A photograph cannot be fetched as pinned; the message names the problem and the fix."""


@dataclass
class FetchResult:
    """What :func:`fetch_photos` did: names written, names already present and correct, stale files removed."""

    out: Path
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def load_manifest(path: str | Path | None = None) -> dict:
    """The manifest at ``path`` (default: the shipped ``debian_photos.json``), checked by :func:`check_manifest`."""
    path = Path(path) if path is not None else MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FetchError(f"cannot read the photo manifest {path}: {exc}") from None
    check_manifest(manifest)
    return manifest


def check_manifest(manifest: dict) -> None:
    """Raise :class:`FetchError` listing every problem: missing fields, malformed hashes, packages
    outside :data:`ALLOWED_PACKAGES`, unsafe names or paths, a photograph in both splits."""
    problems = []
    packages = manifest.get("packages")
    photos = manifest.get("photos")
    if not isinstance(packages, dict) or not isinstance(photos, list) or not photos:
        raise FetchError("the photo manifest needs a 'packages' object and a non-empty 'photos' list")
    for pkg, entry in packages.items():
        if pkg not in ALLOWED_PACKAGES:
            problems.append(f"package {pkg} is not one of the allowed {sorted(ALLOWED_PACKAGES)}")
        for key in ("version", "filename"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                problems.append(f"package {pkg}: no {key}")
        if not _SHA256.fullmatch(str(entry.get("sha256", ""))):
            problems.append(f"package {pkg}: sha256 must be 64 lowercase hex digits")
    seen: dict[str, dict[str, str]] = {"name": {}, "sha256": {}}
    for i, photo in enumerate(photos):
        name = photo.get("name", f"#{i}")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            problems.append(f"photo {name!r}: the name must be a plain file stem (letters, digits, . _ -)")
        if photo.get("split") not in SPLITS:
            problems.append(f"photo {name}: split must be train or test")
        if photo.get("package") not in packages:
            problems.append(f"photo {name}: its package {photo.get('package')!r} is not under 'packages'")
        path = photo.get("path")
        if not isinstance(path, str) or path.startswith("/") or ".." in path.split("/"):
            problems.append(f"photo {name}: path must be relative to the package root, without '..'")
        if not _SHA256.fullmatch(str(photo.get("sha256", ""))):
            problems.append(f"photo {name}: sha256 must be 64 lowercase hex digits")
        for key in ("licence", "author"):
            if not isinstance(photo.get(key), str) or not photo[key].strip():
                problems.append(f"photo {name}: no {key}")
        for key in ("name", "sha256"):  # one photograph, one entry: train and test stay disjoint
            value = str(photo.get(key))
            if value in seen[key]:
                problems.append(f"photo {name}: {key} {value} appears twice "
                                f"({seen[key][value]} and {photo.get('split')})")
            seen[key][value] = str(photo.get("split"))
    if problems:
        raise FetchError("the photo manifest is malformed: " + "; ".join(problems))


def fetch_photos(out: str | Path, *, debs: str | Path | None = None, manifest: str | Path | dict | None = None,
                 long_side: int = LONG_SIDE, progress: Callable[[str], None] | None = None) -> FetchResult:
    """Fetch the manifest's photographs into ``out/train`` and ``out/test`` as resized PNGs.

    ``debs``: a folder already holding the pinned ``.deb`` files (offline); default: ``apt-get
    download`` into a temporary folder. ``manifest``: a path or dict (default: the shipped one).
    ``long_side``: the resize rule's limit (module docstring). ``progress`` receives one line per
    step. Every hash is checked before anything is written, so a mismatch leaves no new file.
    """
    out = Path(out)
    manifest = manifest if isinstance(manifest, dict) else load_manifest(manifest)
    check_manifest(manifest)
    if long_side < 1:
        raise FetchError(f"long_side must be a positive number of pixels, got {long_side}")
    say = progress or (lambda line: None)
    previous = _read_record(out)
    done = _present_and_correct(out, manifest, previous, long_side)
    result = FetchResult(out=out, kept=sorted(done))
    todo = [photo for photo in manifest["photos"] if photo["name"] not in done]

    originals: dict[str, bytes] = {}
    if todo:
        with tempfile.TemporaryDirectory(prefix="genjscc-debs-") as tmp:
            for pkg in sorted({photo["package"] for photo in todo}):
                wanted = [photo for photo in todo if photo["package"] == pkg]
                deb = _obtain_deb(pkg, manifest["packages"][pkg], debs, Path(tmp), say)
                members = read_deb_members(deb, [photo["path"] for photo in wanted])
                for photo in wanted:
                    data = members[photo["path"]]
                    got = hashlib.sha256(data).hexdigest()
                    if got != photo["sha256"]:
                        raise FetchError(
                            f"{pkg} {photo['path']}: sha256 {got} is not the pinned {photo['sha256']}; the package "
                            f"holds another file than the manifest was made from: nothing was written (fix the "
                            f"manifest entry only after checking the new file by eye)")
                    originals[photo["name"]] = data

    outputs = dict(previous.get("outputs", {}))
    for photo in todo:  # all verified: now write
        image = resize_photo(originals.pop(photo["name"]), long_side)
        rel = f"{photo['split']}/{photo['name']}.png"
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest) as tmp_path:
            image.save(tmp_path, format="PNG")
        outputs[photo["name"]] = {"file": rel, "width": image.width, "height": image.height,
                                  "sha256": _file_sha256(dest)}
        result.written.append(photo["name"])
        say(f"{rel}: {image.width}x{image.height}")

    names = {photo["name"] for photo in manifest["photos"]}
    current = {outputs[name]["file"] for name in names}
    for old in previous.get("outputs", {}).values():  # our own earlier files the manifest no longer places there
        stale = str(old.get("file", ""))
        if stale not in current and _is_output_file(stale) and (out / stale).is_file():
            (out / stale).unlink()
            result.removed.append(stale)
    record = _record(manifest, long_side, {name: outputs[name] for name in names})
    if record != previous.get("record"):
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / RECORD, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return result


def resize_photo(data: bytes, long_side: int = LONG_SIDE) -> Image.Image:
    """Decode ``data`` to RGB and, when its long side exceeds ``long_side``, scale it by
    ``s = long_side / max(w, h)`` to ``(round(w s), round(h s))`` with LANCZOS."""
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    w, h = image.size
    s = long_side / max(w, h)
    if s < 1:
        image = image.resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS)
    return image


def read_deb_members(deb: str | Path, paths: list[str]) -> dict[str, bytes]:
    """The bytes of ``paths`` (relative to the package root) inside the ``.deb`` at ``deb``.

    A ``.deb`` is an ``ar`` archive whose ``data.tar.xz`` or ``data.tar.gz`` holds the files; other
    compressions (zstd, bzip2, none) are refused. Only regular files are read; nothing is written.
    """
    deb = Path(deb)
    members = dict(_ar_members(deb))
    data_names = [name for name in members if name.startswith("data.tar")]
    if not data_names:
        raise FetchError(f"{deb}: not a Debian package (no data.tar member in its ar archive)")
    data_name = data_names[0]
    modes = {"data.tar.xz": "r|xz", "data.tar.gz": "r|gz"}
    if data_name not in modes:
        raise FetchError(f"{deb}: its files are in {data_name}; this reader handles data.tar.xz and data.tar.gz only "
                         f"(pin a version packed that way, or extend genjscc.data.fetch_photos.read_deb_members)")
    wanted = set(paths)
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(members[data_name]), mode=modes[data_name]) as tar:
            for member in tar:
                path = member.name.lstrip("/").removeprefix("./")
                if path not in wanted:
                    continue
                if not member.isfile():
                    raise FetchError(f"{deb}: {path} is not a regular file (a link or folder); the manifest must "
                                     f"name the file itself")
                found[path] = tar.extractfile(member).read()
                if len(found) == len(wanted):
                    break
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise FetchError(f"{deb}: cannot read {data_name} ({exc}); the file is damaged: "
                         f"delete it and fetch again") from None
    missing = sorted(wanted - set(found))
    if missing:
        raise FetchError(f"{deb}: no {', '.join(missing)} inside; the manifest and the package disagree")
    return found


def _ar_members(deb: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each member of the ``ar`` archive ``deb`` (common format: 60-byte headers, even padding)."""
    blob = deb.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise FetchError(f"{deb}: not a Debian package (no ar archive header)")
    pos = 8
    while pos < len(blob):
        header = blob[pos:pos + 60]
        if len(header) < 60 or header[58:60] != b"`\n":
            raise FetchError(f"{deb}: damaged ar archive at byte {pos}; delete it and fetch again")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip() or 0)
        start = pos + 60
        if start + size > len(blob):
            raise FetchError(f"{deb}: truncated (member {name} runs past the end); delete it and fetch again")
        yield name, blob[start:start + size]
        pos = start + size + (size & 1)


def _obtain_deb(pkg: str, entry: dict, debs: str | Path | None, tmp: Path, say: Callable[[str], None]) -> Path:
    """The pinned ``.deb`` of ``pkg``, its sha256 checked: from the folder ``debs``, or downloaded into ``tmp``."""
    version, pinned = entry["version"], entry["sha256"]
    expected = Path(entry["filename"]).name
    if debs is not None:
        folder = Path(debs)
        if not folder.is_dir():
            raise FetchError(f"--debs {folder}: not a folder; give the folder that holds {expected}")
        path = folder / expected
        if not path.is_file():  # apt-get download names files like the pool (an epoch would read %3a)
            candidates = sorted(folder.glob(f"{pkg}_*.deb"))
            matching = [c for c in candidates if _file_sha256(c) == pinned]
            if not matching:
                names = ", ".join(c.name for c in candidates)
                seen = f" (found {names}, none with the pinned sha256)" if candidates else ""
                raise FetchError(f"{folder} has no {expected}{seen}: put {pkg} version {version} there "
                                 f"({_where_to_get(entry)}), or leave out --debs to download it with apt-get")
            path = matching[0]
    else:
        say(f"apt-get download {pkg}={version}")
        path = _apt_download(pkg, entry, tmp)
    got = _file_sha256(path)
    if got != pinned:
        raise FetchError(f"{path}: sha256 {got} is not the pinned {pinned} of {pkg} {version}; the file is damaged or "
                         f"another build: nothing was written (delete it and get {expected} again: "
                         f"{_where_to_get(entry)})")
    return path


def _apt_download(pkg: str, entry: dict, folder: Path) -> Path:
    """``apt-get download PKG=VERSION`` into ``folder`` (no root needed); a clear error when apt cannot."""
    version = entry["version"]
    try:
        proc = subprocess.run(["apt-get", "download", f"{pkg}={version}"], cwd=folder, capture_output=True, text=True)
    except FileNotFoundError:
        raise FetchError(f"apt-get not found: this fetch downloads Debian packages with apt-get. On another system, "
                         f"get {Path(entry['filename']).name} ({_where_to_get(entry)}) into a folder and pass "
                         f"--debs FOLDER") from None
    if proc.returncode != 0:
        said = " ".join(line.strip() for line in proc.stderr.splitlines() if line.strip()) or f"exit {proc.returncode}"
        raise FetchError(f"apt-get cannot download {pkg}={version}, the version the manifest pins ({said}). Your apt "
                         f"sources no longer offer it, or are not Debian 12 (bookworm), or need `apt-get update`: "
                         f"download {Path(entry['filename']).name} ({_where_to_get(entry)}) into a folder and run "
                         f"again with --debs FOLDER; its sha256 is checked either way")
    found = sorted(folder.glob(f"{pkg}_*.deb"))
    if not found:
        raise FetchError(f"apt-get download {pkg}={version} reported success but left no .deb in {folder}")
    return found[0]


def _where_to_get(entry: dict) -> str:
    source = entry.get("source") or Path(entry["filename"]).name.split("_")[0]
    return (f"https://deb.debian.org/debian/{entry['filename']} while Debian ships it, "
            f"or from https://snapshot.debian.org/package/{source}/{entry['version']}/ for good")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_output_file(rel: str) -> bool:
    """``rel`` names a file this fetch writes (``train/NAME.png`` or ``test/NAME.png``), nothing else."""
    parts = rel.split("/")
    return len(parts) == 2 and parts[0] in SPLITS and parts[1].endswith(".png") and bool(_NAME.fullmatch(parts[1]))


def _record(manifest: dict, long_side: int, outputs: dict[str, dict]) -> dict:
    """OUT/manifest.json: the manifest used, the resize rule, and each photograph's output."""
    record = {key: value for key, value in manifest.items() if key != "photos"}
    record["resize"] = {"long_side": long_side, "filter": "LANCZOS",
                        "rule": f"RGB; when max(w, h) > {long_side}, scale by {long_side}/max(w, h) to "
                                f"(round(w*s), round(h*s)); PNG"}
    record["photos"] = [{**photo, "output": outputs[photo["name"]]} for photo in manifest["photos"]]
    return record


def _read_record(out: Path) -> dict:
    """The previous OUT/manifest.json (``record``) and its outputs by name; empty when absent or unreadable."""
    try:
        record = json.loads((out / RECORD).read_text())
        outputs = {photo["name"]: photo["output"] for photo in record["photos"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not all(isinstance(output, dict) for output in outputs.values()):
        return {}
    return {"record": record, "outputs": outputs}


def _present_and_correct(out: Path, manifest: dict, previous: dict, long_side: int) -> set[str]:
    """Names whose output the previous run made from the same pinned source and rule, still on disk unchanged."""
    record = previous.get("record")
    if not record or record.get("resize", {}).get("long_side") != long_side:
        return set()
    old = {photo["name"]: photo for photo in record["photos"]}
    keys = ("package", "path", "sha256", "split")
    done = set()
    for photo in manifest["photos"]:
        before = old.get(photo["name"])
        if before is None or any(before.get(k) != photo[k] for k in keys):
            continue
        if record.get("packages", {}).get(photo["package"]) != manifest["packages"][photo["package"]]:
            continue
        output = before.get("output", {})
        path = out / str(output.get("file", ""))
        if output.get("file") == f"{photo['split']}/{photo['name']}.png" and path.is_file() \
                and _file_sha256(path) == output.get("sha256"):
            done.add(photo["name"])
    return done
