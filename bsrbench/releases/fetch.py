"""Fetching a release into the cache, and checking cached or given files.

A download goes to ``<file>.part`` beside its final place, resumes from that file with an
HTTP ``Range`` request where the server honours it (a server that answers 200 instead is
read from the start), is checked against the pins, and only then renamed into place. A
stalled connection ends after ``timeout`` seconds without data; a truncated or stalled
download keeps its ``.part`` so the next ``get`` resumes; a hash mismatch deletes it.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bsrbench.errors import InputError, WeightsError
from bsrbench.releases.cache import cache_root, read_record, records, write_record
from bsrbench.releases.spec import ReleaseSpec, file_hashes

__all__ = ["Verified", "fetch", "verify_files"]

CHUNK = 1 << 16
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".ckpt", ".bin", ".pkl")
DEFAULT_TIMEOUT = 30.0  # seconds without any data before a download is abandoned


@dataclass(frozen=True)
class Verified:
    """The outcome of checking one file."""

    path: Path
    release: str | None  # the release it is (or claims to be), None when unknown
    ok: bool
    message: str  # one line: what matched or what differs


def fetch(spec: ReleaseSpec, *, sha256: str | None = None, trust_on_first_use: bool = False,
          cache_dir: str | Path | None = None, url: str | None = None,
          timeout: float = DEFAULT_TIMEOUT, quiet: bool = False) -> Path:
    """Download ``spec`` into the cache (or find it there) and return the checked file.

    Args:
        spec: the release.
        sha256: the expected sha256, for an unpinned release (or to double-check one).
        trust_on_first_use: accept an unpinned release's first download and record the
            hash it had, so later checks hold it to that hash.
        cache_dir: the cache (default :func:`~bsrbench.releases.cache.cache_root`).
        url: where to download from, for releases published only on a web page.
        timeout: seconds without data after which the download is abandoned.
        quiet: no progress output.

    Raises:
        WeightsError: unpinned without ``sha256``/``trust_on_first_use``, no URL, network
            failure, stall, truncation, or a hash mismatch (the message names both hashes).
    """
    folder = cache_root(cache_dir) / spec.method
    dest = folder / spec.filename
    record = read_record(dest)
    if record is not None and record.get("name") != spec.name:
        raise WeightsError(f"{dest} is already the cached file of release {record['name']!r}: "
                           f"pass another --cache-dir for {spec.name!r}")
    # A hash recorded earlier (trust on first use, or computed after a blob-id check)
    # holds later downloads to the same file.
    recorded = record.get("sha256") if record else None
    want = (sha256 or "").lower() or spec.sha256 or recorded
    if sha256 is not None and (len(want) != 64 or any(c not in "0123456789abcdef" for c in want)):
        raise InputError(f"--sha256 {sha256!r} is not 64 hex digits")
    if want is None and spec.git_blob is None and not trust_on_first_use:
        raise WeightsError(
            f"release {spec.name!r} is unpinned (nobody published its hash): pass --sha256 "
            "HEX if you know it, or --trust-on-first-use to record the hash of this download")
    if record is not None and dest.is_file():
        if _mismatch(dest, spec, want) is None:
            return dest
        dest.unlink()
    source = url or spec.url
    if source is None:
        raise WeightsError(f"release {spec.name!r} has no direct download URL: download "
                           f"{spec.filename} from {spec.source} and pass --url or --weights")
    if not source.startswith(("http://", "https://")):
        raise InputError(f"download URL {source!r} must be http:// or https://")
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / (spec.filename + ".part")
    _download(source, part, spec, timeout, quiet)
    problem = _mismatch(part, spec, want)
    if problem is not None:
        part.unlink()
        raise WeightsError(f"{spec.name}: the download from {source} {problem}; the file "
                           "was deleted")
    blob, digest = file_hashes(part)
    part.replace(dest)
    how = ("pinned" if spec.pinned and not sha256 else "sha256" if sha256
           else str(record.get("accepted")) if recorded else "trust-on-first-use")
    write_record(dest, {"name": spec.name, "filename": spec.filename, "sha256": digest,
                          "git_blob": blob, "size": dest.stat().st_size, "accepted": how,
                          "url": source, "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                  time.gmtime())})
    return dest


def _mismatch(path: Path, spec: ReleaseSpec, sha256: str | None) -> str | None:
    """None when ``path`` matches every known hash, else a phrase naming both hashes."""
    blob, digest = file_hashes(path)
    if sha256 is not None and digest != sha256:
        return f"has sha256 {digest}, expected {sha256}"
    if spec.git_blob is not None and blob != spec.git_blob:
        return f"has git blob id {blob}, expected {spec.git_blob}"
    return None


def _download(url: str, part: Path, spec: ReleaseSpec, timeout: float, quiet: bool) -> None:
    from bsrbench.progress import Progress

    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "bsrbench"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the .part is complete
            return
        raise WeightsError(f"{spec.name}: {url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(f"{spec.name}: could not reach {url} ({reason})") from None
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0  # the server ignored Range: start over
        elif not str(response.headers.get("Content-Range", "")).startswith(f"bytes {have}-"):
            part.unlink()
            raise WeightsError(f"{spec.name}: {url} resumed at another offset than {have} "
                               "(Content-Range); the partial file was deleted, run the same "
                               "command again")
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else (spec.size or 0)
        got = have
        with open(part, "ab" if resumed else "wb") as out, \
                Progress(max(total, 1), f"get {spec.name}", unit="B", quiet=quiet) as bar:
            bar.update(have)
            try:
                while chunk := response.read1(CHUNK):
                    out.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            except TimeoutError:
                raise WeightsError(
                    f"{spec.name}: the download stalled (no data for {timeout:g} s) after "
                    f"{got} bytes; run the same command again to resume") from None
            except http.client.IncompleteRead:
                raise WeightsError(
                    f"{spec.name}: the server closed the connection after {got} of {total} "
                    "bytes; run the same command again to resume") from None
            except OSError as exc:  # connection reset and the like
                raise WeightsError(
                    f"{spec.name}: the connection failed after {got} bytes ({exc}); run the "
                    "same command again to resume") from None
    if length is not None and got < total:
        raise WeightsError(f"{spec.name}: the server closed the connection after {got} of "
                           f"{total} bytes; run the same command again to resume")


def verify_files(paths: Sequence[Path], catalogue: Mapping[str, ReleaseSpec],
                 cache_dir: str | Path | None = None) -> list[Verified]:
    """Check files against the catalogue; no paths means every cached release.

    A cached release is held to its pins, or to the hash recorded when it was accepted. A
    given file is identified by its hashes; a file that only shares a release's file name
    is reported with both hashes.
    """
    if not paths:
        return [_verify_cached(p, r, catalogue) for p, r in records(cache_dir)]
    out = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path} does not exist: give a weights file or folder")
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in
                       WEIGHT_SUFFIXES) if path.is_dir() else [path]
        out.extend(_identify(f, catalogue) for f in files)
    return out


def _verify_cached(path: Path, record: Mapping[str, object],
                   catalogue: Mapping[str, ReleaseSpec]) -> Verified:
    name = str(record["name"])
    if not path.is_file():
        return Verified(path, name, False, "recorded but the file is missing")
    spec = catalogue.get(name)
    recorded = record.get("sha256")
    if spec is None:
        return Verified(path, name, False, "not a known release (unknown name)")
    problem = _mismatch(path, spec, spec.sha256 or (str(recorded) if recorded else None))
    if problem is not None:
        return Verified(path, spec.name, False, problem)
    how = record.get("accepted", "pinned")
    return Verified(path, spec.name, True, f"ok ({spec.pin if spec.pinned else how})")


def _identify(path: Path, catalogue: Mapping[str, ReleaseSpec]) -> Verified:
    blob, digest = file_hashes(path)
    for spec in catalogue.values():
        if (spec.sha256 is not None and spec.sha256 == digest) or (
                spec.git_blob is not None and spec.git_blob == blob):
            return Verified(path, spec.name, True, f"ok: {spec.name} ({spec.pin})")
    named = [s for s in catalogue.values() if s.filename == path.name]
    for spec in named:
        if spec.pinned:
            expected = spec.sha256 or spec.git_blob
            kind = "sha256" if spec.sha256 else "git blob id"
            seen = digest if spec.sha256 else blob
            return Verified(path, spec.name, False,
                            f"named like {spec.name} but has {kind} {seen}, expected {expected}")
    if named:
        return Verified(path, named[0].name, False,
                        f"named like unpinned release {named[0].name}; sha256 {digest} "
                        "(nothing published to compare with)")
    return Verified(path, None, False, f"not a known release (sha256 {digest})")
