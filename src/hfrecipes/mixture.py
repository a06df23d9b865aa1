"""Weighted dataset mixtures (``dataset_mixture``): several sources interleaved by ``datasets.interleave_datasets``.

A source is what ``--dataset_name``/``--train_file`` name alone: the builtin corpus, local files, a save_to_disk folder
or a Hub dataset; each is loaded by the loaders of :mod:`hfrecipes.sources` (so its errors stay one line), its columns
are picked or renamed (``columns``), and the recipe's ``prepare`` runs on it, so sources of other column names or chat
formats mix. Keys follow TRL's ``DatasetConfig`` where they fit:

```yaml
dataset_mixture:
  - {path: builtin:python-docs, weight: 0.7}
  - {data_files: ["data/extra/*.jsonl"], weight: 0.3, columns: {body: text}}
mixture_stopping_strategy: first_exhausted
```

- ``path``: ``builtin:python-docs``, a Hub dataset id or a save_to_disk folder; or ``data_files``: paths or globs
  (a list, or ``{split: paths}``); ``name`` and ``revision``: a Hub dataset's configuration and revision;
- ``split``: the split to train on (``train``); ``eval_split``: the one to evaluate on (default ``validation`` where
  the source has it, else ``validation_split_percentage`` of its train split held out; ``none``: no validation rows);
- ``columns``: a list keeps those columns, a mapping ``{from: to}`` renames and keeps them;
- ``weight`` (> 0, default 1): the source's probability, after the weights are scaled to sum to 1.

Validation is held out per source, before interleaving, so no training row (nor an oversampled copy of one) is ever
evaluated on. The validation set interleaves every source's validation rows once each, in the weights' proportions
for as long as every source has rows left (``max_eval_samples`` keeps the first ones).

Realised proportions (:class:`MixtureCounts`): every training row carries its source's index until the mixture is
built; map-style, the rows of the mixed training set are counted exactly (after ``max_train_samples``); streaming, a
counting ``map`` at the end of the training stream counts the rows it yields in this process, as they are read.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from .corpus import BUILTIN_PYTHON_DOCS
from .errors import UserError
from .sources import check_data_files, check_dataset_name, hold_out, is_saved_dataset, load_source, truncate

logger = logging.getLogger(__name__)

SOURCE_COLUMN = "__mixture_source"  # the source index of each training row, dropped once the rows are counted
_EXAMPLE = '[{"path": "builtin:python-docs", "weight": 0.7}, {"data_files": ["extra.jsonl"], "weight": 0.3}]'


@dataclass
class MixtureSource:
    """One source of a mixture (see the module docstring)."""

    path: str | None = None
    name: str | None = None
    revision: str | None = None
    data_files: str | list[str] | dict[str, str | list[str]] | None = None
    split: str = "train"
    eval_split: str | None = None
    columns: list[str] | dict[str, str] | None = None
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """The keys that differ from their defaults, and the weight."""
        defaults = MixtureSource()
        return {k: v for k, v in dataclasses.asdict(self).items() if k == "weight" or v != getattr(defaults, k)}

    def split_files(self) -> dict[str, list[str]] | None:
        """``data_files`` as ``{split: [paths or globs]}`` (a list or a string is the ``train`` split)."""
        if self.data_files is None:
            return None
        if isinstance(self.data_files, dict):
            return {split: _as_list(files) for split, files in self.data_files.items()}
        return {"train": _as_list(self.data_files)}

    @property
    def label(self) -> str:
        if self.data_files is not None:
            files = self.split_files()
            return ", ".join(files.get(self.split) or next(iter(files.values())))
        return f"{self.path}:{self.name}" if self.name else str(self.path)


KEYS = [f.name for f in dataclasses.fields(MixtureSource)]


def _as_list(files: str | list[str]) -> list[str]:
    return [files] if isinstance(files, str) else list(files)


def check_mixture(args) -> list[MixtureSource]:
    """``args.dataset_mixture`` (a list of objects, or its JSON text) as checked sources; raises ValueError (one line
    naming the source and key, and a fix) for anything a mixture cannot be built from."""
    sources = args.dataset_mixture
    if isinstance(sources, str):
        try:
            sources = json.loads(sources)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"dataset_mixture is not valid JSON ({err.msg} at column {err.colno}); give a list like '{_EXAMPLE}'"
            ) from None
    if not isinstance(sources, list) or not all(isinstance(s, dict | MixtureSource) for s in sources):
        raise ValueError(f"dataset_mixture must be a list of sources like '{_EXAMPLE}'")
    if not sources:
        raise ValueError("dataset_mixture has no sources; give at least one, or leave dataset_mixture out")
    if args.train_file or args.validation_file:
        flag = "--train_file" if args.train_file else "--validation_file"
        raise ValueError(f"give either {flag} or dataset_mixture, not both (in a mixture: {{data_files: [...]}})")
    if args.dataset_name not in (None, BUILTIN_PYTHON_DOCS):
        raise ValueError(
            f"give either --dataset_name or dataset_mixture, not both (in a mixture: {{path: {args.dataset_name}}})"
        )
    per_source = {"dataset_train_split": "split", "dataset_config": "name", "dataset_revision": "revision"}
    per_source["dataset_eval_split"] = "eval_split"
    for key, source_key in per_source.items():
        if getattr(args, key) != ("train" if key == "dataset_train_split" else None):  # not its default
            raise ValueError(
                f"--{key} applies to --dataset_name; with dataset_mixture give each source its {source_key}"
            )
    return [_checked_source(source, n) for n, source in enumerate(sources, 1)]


def _checked_source(source: dict | MixtureSource, n: int) -> MixtureSource:
    where = f"dataset_mixture source {n}"
    values = dataclasses.asdict(source) if isinstance(source, MixtureSource) else dict(source)
    for key in values:
        if key not in KEYS:
            match = difflib.get_close_matches(str(key), KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean '{match[0]}'?)" if match else ""
            raise ValueError(f"{where}: unknown key '{key}'{hint}; use {', '.join(KEYS)}")
    for key in ("path", "name", "revision", "split", "eval_split"):
        value = values.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"{where}: {key} is {value!r}; give a non-empty string, or leave {key} out")
    if values.get("split") is None:
        values.pop("split", None)
    weight = values.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise ValueError(f"{where}: weight is {weight!r}; give a number > 0 (e.g. 1)")
    if not math.isfinite(weight) or weight <= 0:
        raise ValueError(f"{where}: weight is {weight!r}; it must be a finite number > 0 (e.g. 1)")
    values["weight"] = float(weight)
    _check_columns(values.get("columns"), where)
    path, data_files = values.get("path"), values.get("data_files")
    if (path is None) == (data_files is None):
        what = "both path and data_files" if path is not None else "neither path nor data_files"
        raise ValueError(
            f"{where} has {what}; give one: path (builtin:python-docs, a Hub dataset id or a save_to_disk folder) "
            "or data_files (local files)"
        )
    if values.get("name") is not None and (data_files is not None or path == BUILTIN_PYTHON_DOCS):
        raise ValueError(f"{where}: name is a Hub dataset's configuration; remove it from this source")
    checked = MixtureSource(**values)
    if data_files is not None:
        files = _checked_data_files(data_files, where)
        for pattern in (p for patterns in files.values() for p in patterns):
            if is_saved_dataset(pattern):
                raise ValueError(f"{where}: {pattern} is a folder written by save_to_disk; give it as path: {pattern}")
        try:
            check_data_files([p for patterns in files.values() for p in patterns], flag="data_files")
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    else:
        try:
            check_dataset_name(path, files="data_files")
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    return checked


def _check_columns(columns: Any, where: str) -> None:
    if columns is None:
        return
    names = list(columns.items()) if isinstance(columns, dict) else columns
    if isinstance(columns, dict):
        ok = all(isinstance(a, str) and a and isinstance(b, str) and b for a, b in names)
        targets = list(columns.values())
    else:
        ok = isinstance(columns, list) and all(isinstance(c, str) and c for c in columns)
        targets = columns if isinstance(columns, list) else []
    if not ok or not names:
        raise ValueError(
            f"{where}: columns is {columns!r}; give a list of column names to keep, or a mapping from: to that "
            "renames them (e.g. {body: text})"
        )
    if len(set(targets)) < len(targets):
        raise ValueError(f"{where}: columns {columns!r} names a column twice; give each column once")


def _checked_data_files(data_files: Any, where: str) -> dict[str, list[str]]:
    def patterns(value: Any) -> list[str] | None:
        value = [value] if isinstance(value, str) else value
        if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
            return value
        return None

    if isinstance(data_files, dict):
        files = {split: patterns(value) for split, value in data_files.items()}
        ok = bool(files) and all(isinstance(split, str) and split and p for split, p in files.items())
    else:
        files = {"train": patterns(data_files)}
        ok = files["train"] is not None
    if not ok:
        raise ValueError(
            f"{where}: data_files is {data_files!r}; give paths or globs (a list), or {{split: paths}} "
            '(e.g. ["data/*.jsonl"])'
        )
    return files


@dataclass
class MixtureCounts:
    """The rows each source gave the training set: ``rows`` is filled in once (map-style) or as the stream is read
    (streaming: only by the process that reads it, so not with dataloader workers)."""

    sources: list[str]
    weights: list[float]
    rows: list[int]
    streaming: bool

    def results(self) -> dict[str, Any]:
        rows: list[int | None] = list(self.rows)
        total = sum(self.rows)
        if not self.streaming:
            counted = "rows of the mixed training set"
        elif total:
            counted = (
                "rows drawn from the training stream by this process, read-ahead included (tokenization reads batches)"
            )
        else:  # dataloader workers read copies of the stream, and count there
            rows, counted = [None] * len(rows), "not counted: no row of the training stream was read by this process"
        mixture = {
            name: {"weight": weight, "rows": n, "share": n / total if n is not None and total else None}
            for name, weight, n in zip(self.sources, self.weights, rows, strict=True)
        }
        return {"mixture": mixture, "mixture_counted": counted}


def load_mixture(args, seed: int, prepare, builtin, columns: list[str] | None):
    """The mixture of ``args.dataset_mixture`` as a ``DatasetDict`` (``IterableDatasetDict`` with ``streaming``) of
    ``train`` and, where a source has validation rows, ``validation``; its ``mixture`` attribute holds the
    :class:`MixtureCounts`. Interleaved with ``seed``: the same seed gives the same order."""
    from datasets import DatasetDict, IterableDatasetDict

    sources: list[MixtureSource] = args.dataset_mixture
    labels = _labels(sources)
    total = sum(s.weight for s in sources)
    weights = [s.weight / total for s in sources]
    trains, validations = [], []
    for i, (source, label) in enumerate(zip(sources, labels, strict=True)):
        try:
            train, validation = _load_source(source, i, args, seed, prepare, builtin)
        except UserError as err:
            raise UserError(f"dataset_mixture source {i + 1} ({label}): {err}") from None
        trains.append(train)
        if validation is not None:
            validations.append((i, validation))
    keep = columns or _shared_columns([_column_names(t) for t in trains])
    for i, label in enumerate(labels):
        have = _column_names(trains[i])
        if missing := [c for c in keep if c not in have]:
            raise UserError(f"dataset_mixture source {i + 1} ({label}): {_missing_column(missing[0], have)}")
    trains = [t.select_columns([*keep, SOURCE_COLUMN]) for t in trains]
    validations = [(i, v.select_columns(keep)) for i, v in validations]

    train = _interleave(trains, weights, seed, args.mixture_stopping_strategy)
    splits = {"train": train}
    if validations:
        # every validation row once, in the weights' proportions while each source has rows left
        shares = [weights[i] for i, _ in validations]
        parts, shares = [v for _, v in validations], [w / sum(shares) for w in shares]
        splits["validation"] = _interleave(parts, shares, seed, "all_exhausted_without_replacement")
    if args.max_train_samples is not None:
        splits["train"] = truncate(splits["train"], args.max_train_samples)
    if args.max_eval_samples is not None and "validation" in splits:
        splits["validation"] = truncate(splits["validation"], args.max_eval_samples)
    counts = MixtureCounts(labels, weights, [0] * len(sources), args.streaming)
    splits["train"] = _counted(splits["train"], counts)
    if not args.streaming:
        if len(splits["train"]) == 0:
            raise UserError("the mixture's training data is empty; give its sources rows")
        logger.info(
            "Mixture of %d sources, %d training rows: %s",
            len(sources),
            len(splits["train"]),
            ", ".join(f"{name} {n} ({w:.0%} asked)" for name, n, w in zip(labels, counts.rows, weights, strict=True)),
        )
    raw = (IterableDatasetDict if args.streaming else DatasetDict)(splits)
    raw.mixture = counts
    return raw


def _labels(sources: list[MixtureSource]) -> list[str]:
    labels: list[str] = []
    for source in sources:
        label = source.label
        labels.append(label if label not in labels else f"{label} #{len(labels) + 1}")
    return labels


def _load_source(source: MixtureSource, index: int, args, seed: int, prepare, builtin):
    """(train, validation or None) of one source: columns picked, ``prepare`` run, rows tagged with ``index``."""
    raw = load_source(source.path, source.split_files(), args.streaming, builtin, source.name, source.revision)
    eval_split = source.eval_split
    if eval_split is None:
        eval_split = "validation" if "validation" in raw and source.split != "validation" else None
    elif eval_split.lower() == "none":
        eval_split = None
    for split, key in ((source.split, "split"), (eval_split, "eval_split")):
        if split is not None and split not in raw:
            raise UserError(f"it has no split '{split}' (splits: {', '.join(raw)}); set its {key} to one of them")
    kind = type(raw)
    raw = kind({"train": raw[source.split], **({"validation": raw[eval_split]} if eval_split else {})})
    if source.columns is not None:
        raw = kind({name: _picked_columns(ds, source.columns) for name, ds in raw.items()})
    if prepare is not None:
        raw = kind({name: prepare(ds, name) for name, ds in raw.items()})
    if not args.streaming and len(raw["train"]) == 0:
        raise UserError(f"its split '{source.split}' is empty; give it rows, or remove the source")
    # Tagged before the held-out split: a dataset as loaded (no indices mapping) takes a column without a copy.
    raw = kind({name: _tagged(ds, index) for name, ds in raw.items()})
    if source.eval_split is None or source.eval_split.lower() != "none":
        # seed + index: sources of the same length are not held out at the same positions
        fix = "give the source an eval_split, or set --validation_split_percentage 0"
        raw = hold_out(raw, args, (seed + index) % 2**32, fix)
    return raw["train"], raw.get("validation")


def _column_names(ds) -> list[str]:
    names = ds.column_names or list(next(iter(ds), {}).keys())  # a stream may know its columns only once read
    return [n for n in names if n != SOURCE_COLUMN]


def _shared_columns(names: list[list[str]]) -> list[str]:
    shared = [c for c in names[0] if all(c in other for other in names[1:])]
    if not shared:
        raise UserError(
            "dataset_mixture: the sources share no column; rename them to the same ones with each source's columns "
            "(e.g. columns: {body: text})"
        )
    return shared


def _missing_column(column: str, have: list[str]) -> str:
    if "input_ids" in have:
        return "it holds pre-tokenized blocks (input_ids), which a mixture does not mix; give the text they came from"
    example = f" (e.g. columns: {{{have[0]}: {column}}})" if have else ""
    return f"it has no column '{column}' (columns: {', '.join(have)}); map one to it with its columns{example}"


def _picked_columns(ds, columns: list[str] | dict[str, str]):
    mapping = dict(columns) if isinstance(columns, dict) else {c: c for c in columns}
    have = _column_names(ds)
    missing = [c for c in mapping if c not in have]
    if missing:
        raise UserError(
            f"it has no column '{missing[0]}' (columns: {', '.join(have)}); fix its columns to name columns it has"
        )
    ds = ds.select_columns(list(mapping))
    renames = {a: b for a, b in mapping.items() if a != b}
    return ds.rename_columns(renames) if renames else ds


def _tagged(ds, index: int):
    """``ds`` with its source index in ``SOURCE_COLUMN``, to count the rows of each source once mixed."""
    if hasattr(ds, "__len__"):
        import numpy as np

        return ds.add_column(SOURCE_COLUMN, np.full(len(ds), index, dtype=np.int32))
    from datasets import Features, Value

    features = Features({**ds.features, SOURCE_COLUMN: Value("int32")}) if ds.features is not None else None
    return ds.map(lambda row: {SOURCE_COLUMN: index}, features=features)


def _interleave(parts: list, weights: list[float], seed: int, stopping_strategy: str):
    from datasets import interleave_datasets

    if len(parts) == 1:
        return parts[0]
    try:
        return interleave_datasets(parts, probabilities=weights, seed=seed, stopping_strategy=stopping_strategy)
    except ValueError as err:  # columns of the same name and another type (datasets' feature alignment)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"dataset_mixture: the sources' columns do not match ({reason}); give sources whose columns hold the "
            "same kind of values, or pick the same columns with each source's columns"
        ) from None


def _counted(train, counts: MixtureCounts):
    """``train`` without ``SOURCE_COLUMN``, its rows per source counted into ``counts.rows``: now (map-style), or as
    the stream yields them (a closure over the list, so the copies datasets makes of its iterables count into it)."""
    if hasattr(train, "__len__"):
        import numpy as np

        sources = np.asarray(train.with_format("numpy")[SOURCE_COLUMN], dtype=np.int64)
        counts.rows[:] = np.bincount(sources, minlength=len(counts.rows)).tolist()
        return train.remove_columns([SOURCE_COLUMN])
    rows = counts.rows

    def count(row):
        rows[row[SOURCE_COLUMN]] += 1
        return {}

    from datasets import Features

    features = train.features
    if features is not None:
        features = Features({k: v for k, v in features.items() if k != SOURCE_COLUMN})
    return train.map(count, remove_columns=[SOURCE_COLUMN], features=features)
