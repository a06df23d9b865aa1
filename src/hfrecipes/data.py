"""One data entry point for every recipe: the builtin corpus, local files, or Hub datasets (each loaded by
:mod:`hfrecipes.sources`), or a mixture of them (:mod:`hfrecipes.mixture`); plus packing."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import datafiles
from .corpus import BUILTIN_PYTHON_DOCS, load_python_docs
from .datafiles import not_utf8_message  # noqa: F401  (moved to datafiles; kept importable from here)
from .errors import UserError
from .mixture import check_mixture, load_mixture
from .sources import check_data_files, check_dataset_name, hold_out, load_source, truncate

logger = logging.getLogger(__name__)

PACKED_INFO_KEY = "hfrecipes_packed"  # in a packed dataset's info.description: block size and tokenizer


@dataclass
class DataArguments:
    dataset_name: str | None = field(
        default=BUILTIN_PYTHON_DOCS,
        metadata={
            "help": f"'{BUILTIN_PYTHON_DOCS}' (embedded, offline), a Hub dataset id, or a save_to_disk folder "
            "(e.g. from pretokenize.py). Ignored with --train_file."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration (subset) name."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub dataset branch, tag or commit."})
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on (e.g. train_sft)."})
    dataset_eval_split: str | None = field(
        default=None,
        metadata={
            "help": "Split to evaluate on (e.g. test_sft); default: 'validation' if there is one, else held out "
            "from train. 'none': no evaluation."
        },
    )
    train_file: list[str] | None = field(
        default=None, metadata={"help": "Paths or globs of .txt/.json/.jsonl/.csv/.parquet files to train on."}
    )
    validation_file: list[str] | None = field(default=None, metadata={"help": "Paths or globs for validation."})
    text_column: str = field(default="text", metadata={"help": "Column holding the text."})
    validation_split_percentage: float = field(
        default=5.0, metadata={"help": "Held-out share of train when the data has no validation split."}
    )
    streaming: bool = field(default=False, metadata={"help": "Stream the data (corpora bigger than memory)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Truncate train to this many rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Truncate validation to this many rows."})
    num_proc: int | None = field(default=None, metadata={"help": "Processes for tokenization (datasets.map)."})
    preprocessing_batch_size: int = field(default=1000, metadata={"help": "Rows per batch when tokenizing."})
    dataset_mixture: list[dict] | str | None = field(
        default=None,
        metadata={
            "help": "Sources to mix instead of --dataset_name/--train_file: a YAML list (a JSON list on the command "
            "line) of {path or data_files, weight, name, revision, split, eval_split, columns}; see the README."
        },
    )
    mixture_stopping_strategy: Literal["first_exhausted", "all_exhausted", "all_exhausted_without_replacement"] = (
        field(
            default="first_exhausted",
            metadata={
                "help": "When a mixture ends (datasets.interleave_datasets): first_exhausted (no row repeats), "
                "all_exhausted (the smaller sources repeat), all_exhausted_without_replacement (every row once)."
            },
        )
    )

    def __post_init__(self):
        if self.train_file and self.dataset_name not in (None, BUILTIN_PYTHON_DOCS):
            raise ValueError("give either --dataset_name or --train_file, not both")
        if self.validation_file and not self.train_file:
            raise ValueError("--validation_file needs --train_file as well")
        if self.dataset_mixture is not None:
            self.dataset_mixture = check_mixture(self)
        if self.train_file:
            check_data_files([*self.train_file, *(self.validation_file or [])])
        check_dataset_name(self.dataset_name)

    def to_dict(self) -> dict[str, Any]:
        """The fields, as run_config.yaml saves them: each mixture source with only the keys it sets."""
        values = asdict(self)
        if self.dataset_mixture:
            values["dataset_mixture"] = [source.to_dict() for source in self.dataset_mixture]
        return values


def load_text_datasets(args: DataArguments, seed: int = 42):
    """Returns a (possibly streaming) ``DatasetDict`` with ``train`` and ``validation`` splits.

    Sources: the builtin corpus, local files (``--train_file``), a Hub dataset (``--dataset_name``), a
    ``save_to_disk`` folder (``--dataset_name PATH``) of text or of packed blocks from recipes/pretokenize.py
    (those keep only ``input_ids``: ``pack_dataset`` passes them through, and row counts are blocks), or a weighted
    mixture of text sources (``dataset_mixture``, :mod:`hfrecipes.mixture`).
    Without a validation split, ``validation_split_percentage`` of train is held out (deterministically).
    """

    def check_text_column(ds, name: str):
        columns = ds.column_names
        if columns is not None and args.text_column not in columns and not is_packed(ds, args.text_column):
            text, fix = args.text_column, "set --text_column"
            if args.dataset_mixture and columns:
                fix = f"map a column to it with the source's columns (e.g. columns: {{{columns[0]}: {text}}})"
            raise UserError(f"the {name} data has no column '{text}' (columns: {', '.join(columns)}); {fix}")
        return ds

    return load_datasets(args, seed, prepare=check_text_column, columns=[args.text_column])


def load_datasets(
    args: DataArguments,
    seed: int = 42,
    prepare: Callable[[Any, str], Any] | None = None,
    builtin: Callable[[], Any] = load_python_docs,
    columns: list[str] | None = None,
):
    """Like :func:`load_text_datasets`, for data of any columns.

    ``prepare(dataset, split_name)`` runs on every split as loaded, before the validation split is held out: it checks
    or converts the columns (and raises ``UserError`` for data it cannot use). ``builtin`` builds the ``DatasetDict``
    that ``builtin:python-docs`` stands for, so a recipe can derive its own task from the embedded corpus.
    ``columns``: the columns the recipe reads, the ones a mixture keeps of each source (default: those all share).
    A mixture's ``DatasetDict`` carries how many rows each source gave, for :func:`mixture_results`.
    """
    datafiles.forget()  # the files of this load are the ones a stream that fails later is checked against
    if args.dataset_mixture:
        return load_mixture(args, seed, prepare, builtin, columns)
    files = {"train": args.train_file, **({"validation": args.validation_file} if args.validation_file else {})}
    name, files = (None, files) if args.train_file else (args.dataset_name, None)
    raw = load_source(name, files, args.streaming, builtin, args.dataset_config, args.dataset_revision)
    raw = _pick_splits(raw, args)

    if prepare is not None:
        raw = type(raw)({name: prepare(ds, name) for name, ds in raw.items()})
    if not args.streaming and len(raw["train"]) == 0:
        raise UserError("the training data is empty; point --train_file at a file with text in it")
    raw = hold_out(raw, args, seed, "give --validation_file or set --validation_split_percentage 0")
    if args.max_train_samples is not None:
        raw["train"] = truncate(raw["train"], args.max_train_samples)
    if args.max_eval_samples is not None and "validation" in raw:
        raw["validation"] = truncate(raw["validation"], args.max_eval_samples)
    return raw


def mixture_results(raw) -> dict[str, Any]:
    """results.json's figures of a mixture (``{"mixture": {source: {weight, rows, share}}, ...}``), or ``{}``.

    Map-style: the rows of the mixed training set, exact. Streaming: the rows the training stream has yielded so
    far in this process (read them right after training; see :class:`hfrecipes.mixture.MixtureCounts`).
    """
    counts = getattr(raw, "mixture", None)
    return counts.results() if counts is not None else {}


def _pick_splits(raw, args: DataArguments):
    """``train`` and ``validation`` from the splits the config names (Hub sets name them freely: train_sft, ...)."""
    from datasets import DatasetDict, IterableDatasetDict

    train, evaluation = args.dataset_train_split, args.dataset_eval_split
    where = args.dataset_name if not args.train_file else "the data files"
    if evaluation is None:
        evaluation = "validation" if "validation" in raw else None
    elif evaluation.lower() == "none":
        evaluation = None
    for split, key in ((train, "dataset_train_split"), (evaluation, "dataset_eval_split")):
        if split is not None and split not in raw:
            raise UserError(f"{where} has no split '{split}' (splits: {', '.join(raw)}); set --{key} to one of them")
    splits = {"train": raw[train], **({"validation": raw[evaluation]} if evaluation else {})}
    return (IterableDatasetDict if isinstance(raw, IterableDatasetDict) else DatasetDict)(splits)


def iter_text_batches(ds, text_column: str = "text", batch_size: int = 1000):
    """Yields lists of strings; works for map-style and streaming datasets alike."""
    if is_packed(ds, text_column):
        raise UserError(f"the data holds pre-tokenized blocks, not '{text_column}'; give the text it was made from")
    with datafiles.lazy_reading():  # a stream reads its files only now: a malformed one is one line here too
        for batch in ds.select_columns([text_column]).iter(batch_size=batch_size):
            yield [t for t in batch[text_column] if t]


def pack_dataset(
    ds, tokenizer, block_size: int, text_column: str = "text", num_proc: int | None = None, batch_size: int = 1000
):
    """Tokenizes with a batched, cached ``map`` and packs into ``block_size`` blocks with EOS after each document.

    Blocks span document boundaries; only the final partial block is dropped. Returns a dataset with
    ``input_ids`` (labels are made by the collator). Streaming datasets are packed on the fly; map-style ones
    batch by batch into a cached, memory-mapped dataset, so memory stays flat whatever the corpus size.
    Data that is already packed (``recipes/pretokenize.py``) is checked against ``block_size`` and the tokenizer
    and returned as is.
    """
    if tokenizer.eos_token_id is None:
        raise UserError("the tokenizer has no EOS token; set one (e.g. '<|endoftext|>') before packing")
    if is_packed(ds, text_column):
        return _check_packed(ds, tokenizer, block_size)
    eos = tokenizer.eos_token_id

    def tokenize(batch):
        ids = tokenizer(batch[text_column], add_special_tokens=False, verbose=False)["input_ids"]
        return {"input_ids": [x + [eos] for x in ids]}

    streaming = not hasattr(ds, "__len__")
    map_kwargs = {} if streaming else {"num_proc": num_proc, "desc": "Tokenizing"}
    ds = ds.select_columns([text_column])  # a stream may not know its other columns; they must not reach map
    tokenized = ds.map(tokenize, batched=True, batch_size=batch_size, remove_columns=[text_column], **map_kwargs)

    if streaming:
        from datasets import IterableDataset

        # A generator, not a map with a closure: each pass starts with an empty remainder, so every pass over the
        # stream (each evaluation, each epoch) yields the same blocks.
        return IterableDataset.from_generator(
            _stream_blocks, gen_kwargs={"tokenized": tokenized, "block_size": block_size}
        )
    packed = _pack_map_style(tokenized, block_size, batch_size)
    packed.info.description = json.dumps({PACKED_INFO_KEY: packed_info(tokenizer, block_size)})
    return packed


def _stream_blocks(tokenized, block_size: int):
    carry: list[int] = []
    with datafiles.lazy_reading():  # runs inside the Trainer: a malformed streamed file is still one line
        for row in tokenized:
            carry.extend(row["input_ids"])
            while len(carry) >= block_size:
                yield {"input_ids": carry[:block_size]}
                del carry[:block_size]


def _pack_map_style(tokenized, block_size: int, batch_size: int):
    import pyarrow.compute as pc
    from datasets import Dataset, Features, List, Value
    from datasets.fingerprint import Hasher

    n_tokens = sum(pc.sum(pc.list_value_length(t["input_ids"])).as_py() or 0 for t in _arrow_batches(tokenized))
    if n_tokens < block_size:  # from_generator cannot build a dataset with no rows
        return Dataset.from_dict({"input_ids": []}, features=Features({"input_ids": List(Value("int32"))}))
    # Cached like a map: the same tokenized data and block size give the same fingerprint, hence the same files,
    # kept beside the tokenized cache files as map keeps its own (so a temporary dataset leaves nothing behind).
    fingerprint = Hasher.hash(["hfrecipes-pack-v1", tokenized._fingerprint, block_size])
    cache_dir = str(Path(tokenized.cache_files[0]["filename"]).parent / "packed") if tokenized.cache_files else None
    return Dataset.from_generator(
        _blocks,
        gen_kwargs={"tokenized": tokenized, "block_size": block_size, "batch_size": batch_size},
        fingerprint=fingerprint,
        cache_dir=cache_dir,
    )


def _arrow_batches(ds, batch_size: int = 10_000):
    return ds.with_format("arrow").iter(batch_size=batch_size)


def _blocks(tokenized, block_size: int, batch_size: int):
    """Yields ``block_size`` rows of the concatenated documents; the remainder of each batch carries over."""
    import numpy as np

    carry = np.empty(0, dtype=np.int32)
    for table in _arrow_batches(tokenized, batch_size):
        flat = table.column("input_ids").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        flat = np.concatenate([carry, flat.astype(np.int32, copy=False)])
        n = len(flat) // block_size
        # numpy int32 rows, no declared features: datasets writes them without a per-row encode (3x faster).
        yield from ({"input_ids": row} for row in flat[: n * block_size].reshape(n, block_size))
        carry = flat[n * block_size :]


def is_packed(ds, text_column: str = "text") -> bool:
    """Whether ``ds`` holds packed blocks (``input_ids``, no text), e.g. a folder written by pretokenize.py."""
    columns = ds.column_names
    return columns is not None and "input_ids" in columns and text_column not in columns


def packed_info(tokenizer, block_size: int) -> dict:
    """What packed blocks depend on; saved with them so a run with another tokenizer is refused."""
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False)
    digest = hashlib.sha256(f"{vocab}|{tokenizer.eos_token_id}".encode()).hexdigest()[:16]
    return {"block_size": block_size, "tokenizer_fingerprint": digest, "vocab_size": len(tokenizer)}


def _check_packed(ds, tokenizer, block_size: int):
    import pyarrow.compute as pc

    if hasattr(ds, "__len__"):
        lengths = {n for t in _arrow_batches(ds) for n in pc.unique(pc.list_value_length(t["input_ids"])).to_pylist()}
    else:
        lengths = {len(row["input_ids"]) for row in ds.take(1)}
    if lengths and lengths != {block_size}:
        found = ", ".join(str(n) for n in sorted(lengths)[:3])
        raise UserError(
            f"the pre-tokenized data has blocks of {found} tokens but --block_size is {block_size}; "
            f"pass --block_size {min(lengths)} or pre-tokenize again with --block_size {block_size}"
        )
    try:
        saved = json.loads(ds.info.description or "{}").get(PACKED_INFO_KEY)
    except (ValueError, AttributeError):
        saved = None
    if saved and saved["tokenizer_fingerprint"] != packed_info(tokenizer, block_size)["tokenizer_fingerprint"]:
        raise UserError(
            f"the pre-tokenized data was made with another tokenizer (vocab {saved['vocab_size']}, this one "
            f"{len(tokenizer)}); pass the tokenizer used by pretokenize.py as --tokenizer_name"
        )
    return ds.select_columns(["input_ids"])


def first_text(ds, text_column: str = "text") -> str:
    """The first non-empty text of a (possibly streaming) dataset, or "" (e.g. for a sample prompt)."""
    if ds is None or is_packed(ds, text_column):
        return ""
    for batch in iter_text_batches(ds, text_column, batch_size=16):
        if batch:
            return batch[0]
    return ""


def text_bytes(ds, text_column: str = "text") -> int:
    """UTF-8 bytes of a map-style dataset's text, read from the arrow buffers (no Python strings)."""
    import pyarrow.compute as pc

    return sum(pc.sum(pc.binary_length(t[text_column])).as_py() or 0 for t in _arrow_batches(ds))
