"""The datatrove steps of :mod:`hfrecipes.prep` (imported only where datatrove is installed)."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.formatters.base import BaseFormatter
from datatrove.utils.word_tokenizers import WordTokenizer

from .corpus import BUILTIN_PYTHON_DOCS
from .errors import UserError
from .prep_config import PrepareDataArguments
from .prep_report import finish

# datatrove pickles the steps into its worker processes: they hold plain values and import what they use.


def _hide_user_error_tracebacks() -> None:
    """datatrove logs a failed task with its traceback; a :class:`UserError` (bad input) is one line, as everywhere.
    Runs on import, so in datatrove's worker processes too (they import this module to unpickle the steps)."""
    from loguru import logger

    def patch(record):
        exc = record["exception"]
        if exc is not None and isinstance(exc.value, UserError):
            record["exception"] = None

    logger.configure(patcher=patch)


_hide_user_error_tracebacks()


class SourceReader(PipelineStep):
    """Reads the configured source as datatrove ``Document``s, task ``rank`` of ``world_size`` taking its share:
    every ``world_size``-th file, or a shard of a Hub stream or an in-memory dataset. Local files go through
    :func:`hfrecipes.sources.load_data_files` (datasets' readers behind the project's error boundary, so a broken line
    is ``FILE line N: ...``); a missing text column is a one-line error naming the columns there are."""

    type = "📖 - READER"
    name = "hfrecipes source"

    def __init__(self, args: PrepareDataArguments):
        super().__init__()
        self.files = _input_files(args)
        self.dataset_name, self.dataset_config = args.dataset_name, args.dataset_config
        self.revision, self.split = args.dataset_revision, args.dataset_train_split
        self.text_column, self.limit = args.text_column, args.max_train_samples

    def _datasets(self, rank: int, world_size: int):
        """(source name, dataset or stream) pairs this task reads."""
        from .sources import is_saved_dataset, load_data_files, load_hub_dataset, load_saved

        if self.files:
            for path in self.files[rank::world_size]:
                yield path, load_data_files({"train": [path]}, streaming=True)["train"]
            return
        if self.dataset_name == BUILTIN_PYTHON_DOCS:
            from .corpus import load_python_docs

            raw = load_python_docs()
        elif is_saved_dataset(self.dataset_name):
            raw = load_saved(self.dataset_name)
        else:
            raw = load_hub_dataset(self.dataset_name, self.dataset_config, self.revision, streaming=True)
        if self.split not in raw:
            raise UserError(
                f"{self.dataset_name} has no split '{self.split}' (splits: {', '.join(raw)}); "
                "set --dataset_train_split to one of them"
            )
        ds = raw[self.split]
        if hasattr(ds, "__len__"):
            yield self.dataset_name, ds.shard(world_size, rank, contiguous=True)
        elif ds.num_shards >= world_size:
            yield self.dataset_name, ds.shard(world_size, rank)
        elif rank == 0:  # a stream of fewer shards than tasks: the first task reads it all
            yield self.dataset_name, ds

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from . import datafiles

        count = 0
        limit = None if self.limit is None else self.limit // world_size + (rank < self.limit % world_size)
        for source, ds in self._datasets(rank, world_size):
            with datafiles.lazy_reading():
                for i, row in enumerate(ds):
                    if i == 0 and self.text_column not in row:
                        raise UserError(
                            f"{source} has no column '{self.text_column}' (columns: {', '.join(row)}); "
                            "set --text_column"
                        )
                    text = row[self.text_column]
                    if limit is not None and count >= limit:
                        return
                    if not isinstance(text, str) or not text.strip():
                        self.stat_update("skipped_empty")
                        continue
                    doc = Document(text=text, id=f"{Path(source).name}/{i}", metadata={"source": source})
                    with self.track_time():
                        self.stat_update("total")
                        self.stat_update("bytes", value=len(text.encode("utf-8")))
                        self.update_doc_stats(doc)
                    count += 1
                    yield doc


def _input_files(args: PrepareDataArguments) -> list[str]:
    from .sources import expand_files

    return expand_files(args.train_file) if args.train_file else []


_TAG = re.compile(r"<(html|body|div|p|br|span|table|article|head)\b[^>]*>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")


def looks_like_html(text: str) -> bool:
    head = text[:4000]
    return head.lstrip().startswith(("<!DOCTYPE", "<!doctype", "<html")) or len(_TAG.findall(head)) >= 3


class Clean(BaseFormatter):
    """Unicode normalisation, whitespace clean-up, and the main text of HTML documents (trafilatura)."""

    name = "🧹 hfrecipes clean"

    def __init__(self, normalization: str = "NFC", whitespace: bool = True, html: str = "auto"):
        super().__init__()
        self.normalization = None if normalization == "none" else normalization
        self.whitespace, self.html = whitespace, html

    def format(self, text: str) -> str:
        if self.html == "always" or (self.html == "auto" and looks_like_html(text)):
            text = self._extract(text)
            self.stat_update("html_extracted")
        if self.normalization:
            text = unicodedata.normalize(self.normalization, text)
        if self.whitespace:
            text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
            text = "\n".join(_SPACES.sub(" ", line).rstrip() for line in text.split("\n"))
            text = _BLANK_LINES.sub("\n\n", text).strip()
        return text

    def _extract(self, html: str) -> str:
        try:
            import trafilatura
        except ImportError:
            raise UserError(
                "an input document is HTML and extracting its text needs trafilatura: pip install trafilatura "
                "(or pip install 'hfrecipes[data]'), or set --html never"
            ) from None
        return trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True) or ""


class WhitespaceWords(WordTokenizer):
    """Words split on whitespace: MinHash's ``minhash_words: whitespace`` (datatrove takes a ``WordTokenizer``)."""

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]


class LengthFilter(BaseFilter):
    name = "📏 hfrecipes length"

    def __init__(self, min_chars: int = 0, max_chars: int | None = None, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.min_chars, self.max_chars = min_chars, max_chars

    def filter(self, doc):
        if not doc.text.strip():
            return False, "empty"
        if len(doc.text) < self.min_chars:
            return False, "too_short"
        if self.max_chars is not None and len(doc.text) > self.max_chars:
            return False, "too_long"
        return True


class Count(PipelineStep):
    """Counts what passes (documents, UTF-8 bytes, words, tokens with ``tokenizer_name``) without changing it."""

    type = "📊 - STATS"

    def __init__(self, name: str, tokenizer_name: str | None = None):
        self.name, self.tokenizer_name = name, tokenizer_name  # before the stats, which take the step's name
        super().__init__()

    def run(self, data, rank: int = 0, world_size: int = 1):
        tokenizer = None
        if self.tokenizer_name:
            from .modeling import load_tokenizer

            tokenizer = load_tokenizer(self.tokenizer_name)
        for doc in data:
            with self.track_time():
                self.stat_update("total")
                self.stat_update("bytes", value=len(doc.text.encode("utf-8")))
                self.stat_update("words", value=len(doc.text.split()))
                if tokenizer is not None:
                    self.stat_update("tokens", value=len(tokenizer(doc.text, add_special_tokens=False)["input_ids"]))
                self.update_doc_stats(doc)
            yield doc


# ------------------------------------------------------------------------------------------------ decontamination


def _normalized_words(text: str) -> list[str]:
    """Lower-cased words without punctuation: the same normalisation for evaluation and training text."""
    from datatrove.utils.text import TextNormConfig, simplify_text

    return simplify_text(text, TextNormConfig()).split()


def _hash(text: str) -> int:
    import xxhash

    return xxhash.xxh64_intdigest(text.encode("utf-8"))  # stable across processes, unlike hash()


def load_eval_texts(files: list[str], columns: list[str] | None) -> list[dict[str, Any]]:
    """Every text of the evaluation files: ``{"file", "row", "column", "text"}``; one-line errors for bad files."""
    from .sources import expand_files, load_data_files

    texts = []
    for pattern in files:
        matched = expand_files([pattern])
        if not matched:
            raise UserError(f"no file matches '{pattern}'; check the path given to --decontaminate_files")
        for path in matched:
            ds = load_data_files({"eval": [path]})["eval"]
            wanted = columns or [
                c for c, f in ds.features.items() if getattr(f, "dtype", None) in ("string", "large_string")
            ]
            missing = [c for c in wanted if c not in ds.column_names]
            if missing:
                raise UserError(
                    f"{path} has no column '{missing[0]}' (columns: {', '.join(ds.column_names)}); "
                    "fix --decontaminate_columns"
                )
            for row, record in enumerate(ds.select_columns(wanted)):
                for column in wanted:
                    if isinstance(record[column], str) and record[column].strip():
                        texts.append({"file": path, "row": row, "column": column, "text": record[column]})
    if not texts:
        raise UserError(f"the files given to --decontaminate_files hold no text ({', '.join(files)})")
    return texts


class Decontaminate(BaseFilter):
    """Training documents sharing an n-gram with an evaluation text: dropped (or only reported). The n-grams are
    ``ngram`` normalised words; an evaluation text with fewer words (but at least ``min_words``) counts whole. Each
    task writes what it found to ``report_folder/<rank>.jsonl``."""

    name = "🦠 hfrecipes decontaminate"

    def __init__(self, eval_texts, ngram: int, min_words: int, action: str, report_folder: str, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.ngram, self.action, self.report_folder = ngram, action, report_folder
        self.index: dict[int, list[int]] = {}
        lengths = set()
        for i, item in enumerate(eval_texts):
            words = _normalized_words(item["text"])
            if len(words) < min_words:
                continue
            n = min(ngram, len(words))
            lengths.add(n)
            for start in range(len(words) - n + 1):
                self.index.setdefault(_hash(" ".join(words[start : start + n])), []).append(i)
        self.lengths = sorted(lengths)
        self.found: list[dict] = []

    def filter(self, doc):
        words = _normalized_words(doc.text)
        hits: dict[int, str] = {}
        for n in self.lengths:
            for start in range(len(words) - n + 1):
                gram = " ".join(words[start : start + n])
                for i in self.index.get(_hash(gram), ()):
                    hits.setdefault(i, gram)
        if not hits:
            return True
        self.found.append({"doc": doc.id, "eval": sorted(hits), "ngram": next(iter(hits.values()))})
        self.stat_update("contaminated")
        return self.action == "report" or (False, "contaminated")

    def run(self, data, rank: int = 0, world_size: int = 1):
        yield from super().run(data, rank, world_size)
        Path(self.report_folder).mkdir(parents=True, exist_ok=True)
        with open(Path(self.report_folder) / f"{rank:05d}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(item) + "\n" for item in self.found)


class Finish(PipelineStep):
    """The last stage: report, card, the shards moved into ``data/``, ``results.json``. A stage of its own so a
    Slurm run finishes on the cluster just as a local run does."""

    type = "🏁 - FINISH"
    name = "hfrecipes finish"

    def __init__(self, args: PrepareDataArguments, out: str, eval_texts: list[dict] | None = None):
        super().__init__()
        self.args = asdict(args)
        self.out, self.eval_texts = out, eval_texts  # the report names the evaluation texts: not read again

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        finish(PrepareDataArguments(**self.args), Path(self.out), self.eval_texts)
        return
        yield
