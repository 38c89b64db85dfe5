"""Test sets as HDF5 files: build, cache, verify, read, describe and export.

This package is the only place that imports h5py. The rest of bsrbench goes through the
names re-exported here; the modules behind them are private:

* ``_store``: the file format, :class:`TestSet` (checks a file before h5py reads it),
  ``describe`` and ``export_dataset``;
* ``_build``: ``build_dataset`` (generic, generator and released protocols);
* ``_resolve``: ``resolve_dataset`` (the cache) and ``dataset_settings`` (option checks);
* ``_generate``: protocols with their own pipeline (:class:`ProtocolGenerator`), draws
  files, the JPEG stage;
* ``_checks``: range checks the CLI calls before any work (noise, seed, JPEG, cache dir);
"""

from __future__ import annotations

from bsrbench.datasets._build import build_dataset
from bsrbench.datasets._checks import check_cache_dir, check_jpeg, check_noise, check_seed
from bsrbench.datasets._generate import (
    DrawsFile,
    ProtocolGenerator,
    Rendered,
    export_draws,
    jpeg_stage,
    load_array,
    read_draws_file,
)
from bsrbench.datasets._resolve import (
    dataset_settings,
    default_cache_dir,
    describe_protocols,
    resolve_dataset,
)
from bsrbench.datasets._store import (
    DatasetImage,
    DatasetSettings,
    TestSet,
    describe,
    export_dataset,
    open_dataset,
)

__all__ = [
    "DatasetImage",
    "DatasetSettings",
    "DrawsFile",
    "ProtocolGenerator",
    "Rendered",
    "TestSet",
    "build_dataset",
    "check_cache_dir",
    "check_jpeg",
    "check_noise",
    "check_seed",
    "dataset_settings",
    "default_cache_dir",
    "describe",
    "describe_protocols",
    "export_dataset",
    "export_draws",
    "jpeg_stage",
    "load_array",
    "open_dataset",
    "read_draws_file",
    "resolve_dataset",
]
