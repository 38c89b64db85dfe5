"""Fetching releases against a loopback HTTP server the test starts (``loopback.py``):
success, corrupted bytes, truncation and resume, a server ignoring Range, a stall, and
unpinned releases (refused, given a sha256, or trusted on first use)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import PAYLOAD, STALL_S, serve

from bsrbench.errors import InputError, WeightsError
from bsrbench.releases import ReleaseSpec, cached_file, fetch, file_hashes, recorded_sha256
from bsrbench.releases.cache import read_record


@pytest.fixture
def server() -> Iterator[tuple[str, type]]:
    with serve() as found:
        yield found


BLOB, SHA = file_hashes(PAYLOAD)


def _spec(url: str | None, *, pinned: bool = True, blob_only: bool = False) -> ReleaseSpec:
    pins = {}
    if pinned:
        pins = {"repository": "me/repo", "commit": "0" * 40, "path": "w/model.pth",
                "git_blob": BLOB}
        if not blob_only:
            pins["sha256"] = SHA
    return ReleaseSpec(name="toy_x4", method="toy", scale=4, setting="gaussian8",
                       filename="model.pth", source="https://example.invalid/toy",
                       license="MIT", url=url, size=len(PAYLOAD), **pins)


def test_fetch_success_is_verified_recorded_and_cached(server, tmp_path: Path) -> None:
    url, handler = server
    path = fetch(_spec(url), cache_dir=tmp_path, quiet=True)
    assert path == tmp_path / "toy" / "model.pth" and path.read_bytes() == PAYLOAD
    record = read_record(path)
    assert record["sha256"] == SHA and record["git_blob"] == BLOB
    assert record["accepted"] == "pinned"
    assert cached_file("toy_x4", tmp_path) == path and recorded_sha256(path) == SHA
    assert not list(path.parent.glob("*.part"))
    assert fetch(_spec(url), cache_dir=tmp_path, quiet=True) == path
    assert len(handler.seen) == 1  # the second get found it in the cache


def test_fetch_pinned_by_git_blob_only(server, tmp_path: Path) -> None:
    url, _ = server
    path = fetch(_spec(url, blob_only=True), cache_dir=tmp_path, quiet=True)
    assert path.read_bytes() == PAYLOAD


def test_fetch_corrupted_bytes_delete_the_file_and_name_both_hashes(server, tmp_path: Path
                                                                    ) -> None:
    url, handler = server
    handler.modes[:] = ["corrupt"]
    bad_sha = hashlib.sha256(PAYLOAD[:100] + bytes([PAYLOAD[100] ^ 0xFF]) + PAYLOAD[101:])
    with pytest.raises(WeightsError) as info:
        fetch(_spec(url), cache_dir=tmp_path, quiet=True)
    msg = str(info.value)
    assert f"has sha256 {bad_sha.hexdigest()}, expected {SHA}" in msg and "deleted" in msg
    assert not any((tmp_path / "toy").iterdir())
    assert cached_file("toy_x4", tmp_path) is None


def test_fetch_truncated_then_resumed_with_range(server, tmp_path: Path) -> None:
    url, handler = server
    handler.modes[:] = ["truncate", "ok"]
    with pytest.raises(WeightsError, match="closed the connection after 51200 of 102400"):
        fetch(_spec(url), cache_dir=tmp_path, quiet=True)
    part = tmp_path / "toy" / "model.pth.part"
    assert part.stat().st_size == len(PAYLOAD) // 2
    assert cached_file("toy_x4", tmp_path) is None
    path = fetch(_spec(url), cache_dir=tmp_path, quiet=True)
    assert handler.seen == [None, f"bytes={len(PAYLOAD) // 2}-"]
    assert path.read_bytes() == PAYLOAD and not part.exists()


def test_fetch_restarts_when_the_server_ignores_range(server, tmp_path: Path) -> None:
    url, handler = server
    handler.modes[:] = ["norange"]
    part = tmp_path / "toy" / "model.pth.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes from elsewhere")
    path = fetch(_spec(url), cache_dir=tmp_path, quiet=True)
    assert handler.seen == ["bytes=26-"] and path.read_bytes() == PAYLOAD


def test_fetch_refuses_a_resume_at_the_wrong_offset(server, tmp_path: Path) -> None:
    url, handler = server
    handler.modes[:] = ["badrange"]
    part = tmp_path / "toy" / "model.pth.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:500])
    with pytest.raises(WeightsError, match="resumed at another offset than 500"):
        fetch(_spec(url), cache_dir=tmp_path, quiet=True)
    assert not part.exists()


def test_fetch_stall_times_out_cleanly(server, tmp_path: Path) -> None:
    url, handler = server
    handler.modes[:] = ["stall"]
    start = time.monotonic()
    with pytest.raises(WeightsError, match=r"stalled \(no data for 0.3 s\) after 1000 bytes"):
        fetch(_spec(url), cache_dir=tmp_path, timeout=0.3, quiet=True)
    assert time.monotonic() - start < STALL_S
    assert (tmp_path / "toy" / "model.pth.part").stat().st_size == 1000


def test_fetch_refuses_unpinned_releases(server, tmp_path: Path) -> None:
    url, _ = server
    with pytest.raises(WeightsError, match=r"unpinned .*--sha256 HEX.*--trust-on-first-use"):
        fetch(_spec(url, pinned=False), cache_dir=tmp_path, quiet=True)
    with pytest.raises(WeightsError, match=f"expected {'0' * 64}"):
        fetch(_spec(url, pinned=False), sha256="0" * 64, cache_dir=tmp_path, quiet=True)
    with pytest.raises(InputError, match="not 64 hex digits"):
        fetch(_spec(url, pinned=False), sha256="abc", cache_dir=tmp_path, quiet=True)
    path = fetch(_spec(url, pinned=False), sha256=SHA.upper(), cache_dir=tmp_path, quiet=True)
    assert read_record(path)["accepted"] == "sha256"


def test_trust_on_first_use_records_the_hash_it_saw(server, tmp_path: Path) -> None:
    url, handler = server
    path = fetch(_spec(url, pinned=False), trust_on_first_use=True, cache_dir=tmp_path,
                 quiet=True)
    record = read_record(path)
    assert record["accepted"] == "trust-on-first-use" and record["sha256"] == SHA
    # a later, changed file no longer matches what was recorded: it is fetched again
    path.write_bytes(b"tampered")
    handler.modes[:] = ["corrupt"]
    with pytest.raises(WeightsError, match=f"expected {SHA}"):
        fetch(_spec(url, pinned=False), trust_on_first_use=True, cache_dir=tmp_path,
              quiet=True)


def test_fetch_without_url_or_with_a_bad_one(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"no direct download URL.*example\.invalid/toy"):
        fetch(_spec(None), cache_dir=tmp_path, quiet=True)
    with pytest.raises(InputError, match="must be http"):
        fetch(_spec(None), url="file:///etc/passwd", cache_dir=tmp_path, quiet=True)
    with pytest.raises(WeightsError, match="could not reach"):
        # a closed port on loopback: refused at once
        fetch(_spec("http://127.0.0.1:9/x"), cache_dir=tmp_path, timeout=2, quiet=True)
