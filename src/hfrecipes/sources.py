"""Loading one data source as a ``DatasetDict``: local files, a Hub dataset, a save_to_disk folder or the builtin
corpus; every failure a one-line user error. :mod:`hfrecipes.data` (one source per recipe) and
:mod:`hfrecipes.mixture` (several, interleaved) both load through these.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import datafiles
from .corpus import BUILTIN_PYTHON_DOCS, load_python_docs
from .errors import UserError, load_error

_BUILDERS = {".txt": "text", ".json": "json", ".jsonl": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}


def check_dataset_name(name: str | None, files: str = "--train_file") -> None:
    """A ``--dataset_name`` written as a path (``/...``, ``./...``, ``~/...``, ``a/b/c``) must exist: datasets would
    otherwise say it found no data file, as a traceback. A Hub id is ``name`` or ``owner/name``. ``files`` names the
    option that takes data files instead, for the message."""
    if not name or name == BUILTIN_PYTHON_DOCS:
        return
    if name.startswith(("/", "./", "../", "~")) or name.count("/") > 1:
        path = Path(name).expanduser()
        if not path.exists():
            raise ValueError(
                f"no dataset folder or file at {name}; give a save_to_disk folder, data files with {files}, "
                "or a Hub dataset id (owner/name)"
            )


def check_data_files(
    patterns: list[str], suffixes: tuple[str, ...] = tuple(_BUILDERS), flag: str = "--train_file"
) -> None:
    """Raises ValueError (a one-line user error) unless every pattern matches files of a supported type, and none
    of them shows a problem that is cheap to see before loading (:func:`hfrecipes.datafiles.precheck`). ``flag``
    names the option the patterns came from, for the message."""
    for pattern in patterns:
        if not glob.has_magic(pattern) and Path(pattern).is_dir():
            raise ValueError(datafiles.folder_message(pattern, flag))
        files = expand_files([pattern])
        if not files:
            raise ValueError(f"no file matches '{pattern}'; check the path given to {flag}")
        found = {Path(f).suffix.lower() for f in files}
        if not found <= set(suffixes):
            bad = sorted(found - set(suffixes))[0] or "(none)"
            raise ValueError(f"unsupported file type {bad}; use one of {', '.join(suffixes)}")
        empty = [f for f in files if Path(f).stat().st_size == 0]
        if empty:
            raise ValueError(f"data file {empty[0]} is empty; give a file with data in it")
        for f in files:
            if problem := datafiles.precheck(f, alone=len(files) == 1):
                raise ValueError(problem)


def expand_files(patterns: list[str]) -> list[str]:
    """The files that paths or globs name, in a fixed order (globs sorted, missing paths dropped)."""
    files: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        files.extend(m for m in matches if Path(m).is_file())
    return files


def load_data_files(data_files: dict[str, list[str]], streaming: bool = False):
    """A ``DatasetDict`` with one split per key of ``data_files`` (paths or globs of one file type)."""
    from datasets import load_dataset

    data_files = {split: expand_files(patterns) for split, patterns in data_files.items()}
    builders = {_BUILDERS[Path(f).suffix.lower()] for files in data_files.values() for f in files}
    if len(builders) > 1:
        raise UserError(f"mixed file types ({', '.join(sorted(builders))}); give files of one type")
    builder = builders.pop()
    kwargs = {}
    if builder == "text":
        # A paragraph (blank-line separated) is one document: EOS goes between paragraphs, not between lines.
        kwargs = {"sample_by": "paragraph"}
    elif builder == "csv" and any(f.lower().endswith(".tsv") for fs in data_files.values() for f in fs):
        kwargs = {"sep": "\t"}
    # The error boundary: whatever datasets raises, a malformed file is reported by file and line; a stream that
    # fails later, while it is read, is reported the same way (the files are registered for that).
    with datafiles.reading(f for fs in data_files.values() for f in fs):
        return load_dataset(builder, data_files=data_files, streaming=streaming, **kwargs)


def load_hub_dataset(name: str, config: str | None = None, revision: str | None = None, **kwargs):
    """``datasets.load_dataset`` on a Hub id; every Hub failure (offline, missing repo, config or split, gated repo,
    script dataset) is a one-line user error naming the id and the fix."""
    from datasets import load_dataset

    # A local folder is read by datasets' file readers: its files go through the data error boundary. For a Hub
    # dataset the boundary has only the files the readers' errors name (downloaded into the cache).
    local = datafiles.local_data_files(name) if Path(name).is_dir() else []
    with datafiles.reading(local):
        try:
            return load_dataset(name, config, revision=revision, **kwargs)
        except Exception as err:
            message = load_error(err, "dataset", name, revision)
            if message is None:
                raise
            raise UserError(message) from None


def load_source(
    name: str | None,
    data_files: dict[str, list[str]] | None,
    streaming: bool,
    builtin: Callable[[], Any] = load_python_docs,
    config: str | None = None,
    revision: str | None = None,
):
    """Every split of one source, as a (streaming, with ``streaming``) ``DatasetDict``: ``data_files`` (split ->
    paths or globs), else ``name``: ``builtin:python-docs`` (built by ``builtin``), a save_to_disk folder or a Hub
    dataset id (with its ``config`` and ``revision``)."""
    from datasets import IterableDatasetDict

    if data_files:
        return load_data_files(data_files, streaming)
    if name == BUILTIN_PYTHON_DOCS:
        raw = builtin()
    elif name and is_saved_dataset(name):
        raw = load_saved(name)
    elif name:
        return load_hub_dataset(name, config, revision, streaming=streaming)
    else:
        raise UserError("no data: give --dataset_name or --train_file")
    return IterableDatasetDict({k: v.to_iterable_dataset() for k, v in raw.items()}) if streaming else raw


def hold_out(raw, args: Any, seed: int, few_rows_fix: str):
    """``raw`` with a ``validation`` split: its own, else ``validation_split_percentage`` of train held out
    (deterministically from ``seed``; a stream holds out its first ``max_eval_samples`` rows, 1000 by default), else
    none (``validation_split_percentage 0``). ``few_rows_fix`` ends the error for a train split too small to split.
    ``args``: a :class:`~hfrecipes.data.DataArguments` (its ``streaming``, ``max_eval_samples`` and
    ``validation_split_percentage``)."""
    from datasets import DatasetDict, IterableDatasetDict

    if "validation" in raw:
        return raw
    if args.streaming:
        # A stream cannot be split by percentage; hold out the first rows instead.
        n_eval = args.max_eval_samples or 1000
        return IterableDatasetDict({"train": raw["train"].skip(n_eval), "validation": raw["train"].take(n_eval)})
    if args.validation_split_percentage > 0:
        if len(raw["train"]) * args.validation_split_percentage < 100:
            raise UserError(
                f"{len(raw['train'])} training rows are too few to hold out {args.validation_split_percentage}%; "
                f"{few_rows_fix}"
            )
        split = raw["train"].train_test_split(test_size=args.validation_split_percentage / 100, seed=seed)
        return DatasetDict({"train": split["train"], "validation": split["test"]})
    return raw


def is_saved_dataset(path: str) -> bool:
    """Whether ``path`` is a folder written by ``save_to_disk`` (e.g. by recipes/pretokenize.py)."""
    folder = Path(path)
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def load_saved(path: str):
    from datasets import DatasetDict, load_from_disk

    with datafiles.reading([path]):  # a broken folder (JSON files, missing or cut-short .arrow files): one line
        saved = load_from_disk(path)  # memory-mapped: nothing is read into memory here
    return saved if isinstance(saved, DatasetDict) else DatasetDict({"train": saved})


def truncate(ds, n: int):
    """The first ``n`` rows of a dataset or a stream."""
    return ds.take(n) if not hasattr(ds, "__len__") else ds.select(range(min(n, len(ds))))
