"""The batch size of each chunk: fixed, or grown by measurement (``auto``)."""

from __future__ import annotations

import json

import pytest

from bsrbench.batching import AUTO, GAIN, Batcher, check_batch_size
from bsrbench.errors import InputError


@pytest.mark.parametrize("value,expected", [("auto", AUTO), (" AUTO ", AUTO), (8, 8),
                                            ("3", 3)])
def test_batch_size_accepts_auto_and_positive_integers(value, expected):
    assert check_batch_size(value) == expected


@pytest.mark.parametrize("value", [0, -1, "0", "x", True, 2.5, "2.5", "", None])
def test_batch_size_refuses_anything_else_in_one_line(value):
    with pytest.raises(InputError, match="'auto' or an integer of at least 1") as err:
        check_batch_size(value)
    assert "\n" not in str(err.value)


def test_a_fixed_batch_never_changes():
    b = Batcher(4)
    for seconds in (1.0, 9.0, 0.1):
        assert b.next((8, 8)) == 4
        b.record((8, 8), 4, seconds)
    assert b.cap == 4 and b.next((8, 8)) == 4


def _feed(b, size, per_image):
    """Run chunks until the batcher settles; per_image(batch) is the time per image."""
    seen = []
    for _ in range(20):
        n = b.next(size)
        seen.append(n)
        b.record(size, n, per_image(n) * n)
        if b.sizes[size].chosen is not None:
            break
    return seen


def test_auto_skips_the_warm_up_chunk_then_doubles_while_it_pays():
    b = Batcher(AUTO, "cpu")
    # 1 image: 1.0 s, 2: 0.8 s, 4: 0.7 s, 8: 0.72 s per image (8 is slower again)
    times = {1: 1.0, 2: 0.8, 4: 0.7, 8: 0.72}
    seen = _feed(b, (64, 64), times.get)
    assert seen == [1, 1, 2, 4, 8]  # the first chunk warms up and is not counted
    assert b.sizes[(64, 64)].chosen == 4 and b.next((64, 64)) == 4
    described = b.describe()["64x64"]
    assert described["chosen"] == 4 and set(described["seconds_per_lr_image"]) == \
        {"1", "2", "4", "8"}


def test_auto_stays_at_one_image_when_batching_is_slower_as_on_a_small_cpu():
    b = Batcher(AUTO, "cpu")
    b.warm = True
    seen = _feed(b, (128, 128), {1: 6.4, 2: 7.0}.get)
    assert seen == [1, 2] and b.next((128, 128)) == 1


def test_auto_needs_more_than_the_gain_to_grow():
    b = Batcher(AUTO, "cpu")
    b.warm = True
    _feed(b, (32, 32), {1: 1.0, 2: 1.0 * (1 - GAIN / 2)}.get)
    assert b.next((32, 32)) == 2  # fastest measured, but the search stopped there


def test_auto_stops_at_the_device_cap_and_searches_each_size_apart():
    b = Batcher(AUTO, "cuda:0")
    b.warm = True
    assert b.cap == 64
    seen = _feed(b, (16, 16), lambda n: 1.0 / n)  # always faster
    assert seen == [1, 2, 4, 8, 16, 32, 64] and b.next((16, 16)) == 64
    assert b.next((20, 16)) == 1  # another LR size starts its own search
    assert Batcher(AUTO, "cpu").cap == 8


def test_auto_ignores_a_shorter_last_chunk_and_stops_where_memory_ran_out():
    b = Batcher(AUTO, "cpu")
    b.warm = True
    assert b.next((8, 8)) == 1
    b.record((8, 8), 1, 1.0)  # candidate 1 measured -> candidate 2
    b.record((8, 8), 1, 0.1)  # a one-image remainder: not the candidate, ignored
    assert b.next((8, 8)) == 2 and b.sizes[(8, 8)].seconds == {1: 1.0}
    b.record((8, 8), 2, 1.0, limit=1)  # the fallback shrank it to one image
    assert b.next((8, 8)) == 1


def test_runner_records_the_measured_choice_in_run_json(registry, hr_dir, tmp_path):
    from bsrbench.compose import plan_method
    from bsrbench.datasets import resolve_dataset
    from bsrbench.results import read_results
    from bsrbench.runner import RunConfig, run

    dataset = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, cache_dir=tmp_path)
    plan = plan_method(registry, "bicubic", None, {}, 4)
    fixed = run(RunConfig(plan=plan, dataset=dataset, out=tmp_path / "f", quiet=True,
                          batch_size=8), registry)
    auto = run(RunConfig(plan=plan, dataset=dataset, out=tmp_path / "a", quiet=True),
               registry)
    meta = json.loads((tmp_path / "a" / "run.json").read_text())["runs"][-1]
    assert meta["batch_size"] == "auto" and meta["batch_sizes"]
    for entry in meta["batch_sizes"].values():
        assert "1" in entry["seconds_per_lr_image"] or entry["chosen"] is None

    def key(r):
        return r["image"], r["kernel_index"], r["step"]

    a = {key(r): r["psnr"] for r in read_results(auto.results)}
    f = {key(r): r["psnr"] for r in read_results(fixed.results)}
    assert a == f  # bicubic is batch-invariant: the same rows whatever the chunks
    with pytest.raises(InputError, match="batch size"):  # resume refuses another setting
        run(RunConfig(plan=plan, dataset=dataset, out=tmp_path / "a", quiet=True,
                      batch_size=2), registry)
