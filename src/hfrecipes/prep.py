"""Data preparation on datatrove: read -> clean -> filter -> deduplicate -> decontaminate -> sharded parquet/jsonl.

recipes/prepare_data.py builds the stages below from :class:`PrepareDataArguments` and runs them with datatrove's
``LocalPipelineExecutor`` (``--workers`` processes, ``--tasks`` shards) or submits them with its
``SlurmPipelineExecutor``: the same pipeline on one machine or a cluster. Stages, each a datatrove pipeline whose
tasks read what the one before wrote under ``<output_dir>/.work``:

1. ``filter``: :class:`SourceReader` (local files, a Hub dataset streamed, a save_to_disk folder or the builtin
   corpus) -> :class:`Clean` (Unicode normalisation, whitespace, optional HTML extraction with trafilatura) ->
   :class:`LengthFilter` -> datatrove's Gopher repetition, Gopher quality, C4 and language filters (each optional,
   each with its datatrove keyword arguments from the config) -> jsonl;
2. exact dedup: ``ExactDedupSignature`` -> ``ExactFindDedups`` -> ``ExactDedupFilter`` -> jsonl;
3. MinHash near-dedup: ``MinhashDedupSignature`` -> ``MinhashDedupBuckets`` -> ``MinhashDedupCluster`` ->
   ``MinhashDedupFilter`` -> :class:`Decontaminate` (n-gram overlap with the listed evaluation files) -> the output
   shards;
4. :class:`Finish`: the data report (``data_report.md``/``.json``), the dataset card (``README.md``, Hub layout),
   the shards moved into ``<output_dir>/data`` and ``results.json``, last.

Every dropped document is kept, with its reason, under ``.work/removed/<step>`` until the run finishes; the report
quotes a few per reason.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import UserError
from .corpus import BUILTIN_PYTHON_DOCS

WORK_DIR = ".work"  # inside output_dir: intermediate shards, signatures, datatrove logs; removed at the end
DATA_DIR = "data"  # inside output_dir: the prepared shards, named as the Hub's parquet layout wants
REPORT_JSON = "data_report.json"
REPORT_MD = "data_report.md"
DECONT_FILE = "decontamination.json"
FILTERS = ("gopher_repetition", "gopher_quality", "c4", "language")
_EXAMPLES_PER_REASON = 3


@dataclass
class PrepareDataArguments:
    # --- input (same names as the other recipes' data keys)
    dataset_name: str | None = field(
        default=BUILTIN_PYTHON_DOCS,
        metadata={"help": f"'{BUILTIN_PYTHON_DOCS}', a Hub dataset id (streamed) or a save_to_disk folder."},
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration (subset)."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub dataset branch, tag or commit."})
    dataset_train_split: str = field(default="train", metadata={"help": "Split to prepare."})
    train_file: list[str] | None = field(
        default=None, metadata={"help": "Paths or globs of .txt/.json/.jsonl/.csv/.tsv/.parquet files to prepare."}
    )
    text_column: str = field(default="text", metadata={"help": "Column holding the text."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Read at most this many documents."})
    # --- clean
    unicode_normalization: str = field(
        default="NFC",
        metadata={"help": "NFC, NFKC, NFD, NFKD or none.", "choices": ["NFC", "NFKC", "NFD", "NFKD", "none"]},
    )
    clean_whitespace: bool = field(
        default=True,
        metadata={"help": "Strip control characters and trailing spaces, collapse runs of spaces and blank lines."},
    )
    html: str = field(
        default="auto",
        metadata={
            "help": "Extract the main text of HTML documents with trafilatura: auto (documents that look like HTML), "
            "always, never.",
            "choices": ["auto", "always", "never"],
        },
    )
    # --- filter
    min_chars: int = field(default=0, metadata={"help": "Drop documents shorter than this (after cleaning)."})
    max_chars: int | None = field(default=None, metadata={"help": "Drop documents longer than this."})
    gopher_repetition: bool = field(default=True, metadata={"help": "datatrove's GopherRepetitionFilter."})
    gopher_repetition_args: dict | str | None = field(
        default=None, metadata={"help": "Its keyword arguments (thresholds), e.g. '{\"dup_line_frac\": 0.3}'."}
    )
    gopher_quality: bool = field(default=True, metadata={"help": "datatrove's GopherQualityFilter."})
    gopher_quality_args: dict | str | None = field(
        default=None, metadata={"help": "Its keyword arguments, e.g. '{\"min_doc_words\": 50}'."}
    )
    c4: bool = field(default=False, metadata={"help": "datatrove's C4QualityFilter (line and document filters)."})
    c4_args: dict | str | None = field(
        default=None, metadata={"help": "Its keyword arguments, e.g. '{\"filter_no_terminal_punct\": false}'."}
    )
    language: bool = field(
        default=False,
        metadata={"help": "datatrove's LanguageFilter (fastText; needs its model from the Hub, once)."},
    )
    language_args: dict | str | None = field(
        default=None, metadata={"help": 'Its keyword arguments, e.g. \'{"languages": ["en"]}\'.'}
    )
    # --- deduplicate
    exact_dedup: bool = field(default=True, metadata={"help": "Drop exact duplicates (datatrove's exact dedup)."})
    minhash_dedup: bool = field(
        default=True, metadata={"help": "Drop near-duplicates (datatrove's multi-stage MinHash dedup)."}
    )
    minhash_words: str = field(
        default="language",
        metadata={
            "help": "How MinHash splits text into words for its shingles: language (datatrove's word tokenizer for "
            "English, spaCy) or whitespace (several times faster on big corpora; punctuation stays on the words).",
            "choices": ["language", "whitespace"],
        },
    )
    minhash_args: dict | str | None = field(
        default=None,
        metadata={"help": 'MinhashConfig fields, e.g. \'{"n_grams": 5, "num_buckets": 14, "hashes_per_bucket": 8}\'.'},
    )
    # --- decontaminate
    decontaminate_files: list[str] | None = field(
        default=None,
        metadata={
            "help": "Evaluation files (GLUE TSVs, SFT held-out jsonl, ...) whose n-grams must not be trained on."
        },
    )
    decontaminate_columns: list[str] | None = field(
        default=None, metadata={"help": "Their text columns (default: every string column)."}
    )
    decontaminate_ngram: int = field(default=13, metadata={"help": "Words per n-gram."})
    decontaminate_min_words: int = field(
        default=8,
        metadata={
            "help": "An evaluation text shorter than the n-gram but with at least this many words is matched whole."
        },
    )
    decontaminate_action: str = field(
        default="drop",
        metadata={
            "help": "drop the overlapping training documents, or only report them.",
            "choices": ["drop", "report"],
        },
    )
    # --- output and execution
    output_dir: str = field(default="outputs/prepared", metadata={"help": "Where data/, the report and card go."})
    output_format: str = field(
        default="parquet", metadata={"help": "parquet or jsonl.", "choices": ["parquet", "jsonl"]}
    )
    max_file_size_mb: int = field(default=512, metadata={"help": "Shard size limit of the output files."})
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Count the output's tokens with this tokenizer (folder or Hub id)."}
    )
    workers: int = field(default=1, metadata={"help": "Processes running tasks at once (local executor)."})
    tasks: int | None = field(
        default=None, metadata={"help": "Shards the input is split into (default: workers); files are not split."}
    )
    executor: str = field(
        default="local",
        metadata={
            "help": "local (this machine) or slurm (sbatch jobs, one per stage).",
            "choices": ["local", "slurm"],
        },
    )
    slurm_args: dict | str | None = field(
        default=None,
        metadata={
            "help": 'SlurmPipelineExecutor keyword arguments, e.g. \'{"partition": "cpu", "time": "4:00:00"}\'.'
        },
    )
    keep_work: bool = field(default=False, metadata={"help": "Keep .work (intermediate shards, signatures, logs)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a finished run in output_dir."})

    def __post_init__(self):
        for name in (
            "gopher_repetition_args",
            "gopher_quality_args",
            "c4_args",
            "language_args",
            "minhash_args",
            "slurm_args",
        ):
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, json.loads(value))  # validation has checked it is a JSON object
        if self.train_file and self.dataset_name not in (None, BUILTIN_PYTHON_DOCS):
            raise ValueError("give either --dataset_name or --train_file, not both")
        from .data import check_data_files, check_dataset_name

        # at parsing, as DataArguments does: the parser turns these ValueErrors into the one-line error
        if self.train_file:
            check_data_files(self.train_file)
        else:
            check_dataset_name(self.dataset_name)
        if self.max_chars is not None and self.max_chars < max(self.min_chars, 1):
            raise ValueError(f"--max_chars {self.max_chars} is below --min_chars {self.min_chars}; raise it")
        if self.decontaminate_min_words > self.decontaminate_ngram:
            raise ValueError(
                f"--decontaminate_min_words {self.decontaminate_min_words} is above --decontaminate_ngram "
                f"{self.decontaminate_ngram}; lower it"
            )

    @property
    def num_tasks(self) -> int:
        return self.tasks or self.workers


# ------------------------------------------------------------------------------------------------------- stages


@dataclass
class Stage:
    name: str
    pipeline: list
    tasks: int
    workers: int
    writes: str | None = None  # the .work subfolder of documents it writes, if any

    def wrote_nothing(self, out: Path) -> bool:
        """Whether this stage left no document for the next (then only the finish stage runs: it says why)."""
        if self.writes is None:
            return False
        return not any(p.stat().st_size for p in (out / WORK_DIR / self.writes).glob("*") if p.is_file())


def _filter_kwargs(cls, name: str, kwargs: dict | None) -> dict:
    """The config's keyword arguments for a datatrove class; an unknown one is a one-line error listing the rest."""
    import inspect

    kwargs = dict(kwargs or {})
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "exclusion_writer")]
    for key in kwargs:
        if key not in accepted:
            raise UserError(f"--{name}_args: {cls.__name__} has no argument '{key}' (it takes: {', '.join(accepted)})")
    return kwargs


def build_filters(args: PrepareDataArguments, removed: Path) -> list:
    """The clean and filter steps the config turns on, each filter saving what it drops under ``removed/<name>``."""
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.writers import JsonlWriter

    from .prep_steps import Clean, LengthFilter

    def dropped(name):
        return JsonlWriter(str(removed / name), output_filename="${rank}.jsonl", compression=None)

    steps = [
        Clean(args.unicode_normalization, args.clean_whitespace, args.html),
        LengthFilter(args.min_chars, args.max_chars, exclusion_writer=dropped("length")),
    ]
    chosen = {
        "gopher_repetition": (args.gopher_repetition, GopherRepetitionFilter, args.gopher_repetition_args),
        "gopher_quality": (args.gopher_quality, GopherQualityFilter, args.gopher_quality_args),
        "c4": (args.c4, C4QualityFilter, args.c4_args),
    }
    for name, (enabled, cls, kwargs) in chosen.items():
        if enabled:
            steps.append(cls(**_filter_kwargs(cls, name, kwargs), exclusion_writer=dropped(name)))
    if args.language:
        steps.append(language_filter(args, dropped("language")))
    return steps


def language_filter(args: PrepareDataArguments, writer=None):
    """datatrove's fastText ``LanguageFilter``, its model loaded now: offline or without fasttext, one line."""
    from datatrove.pipeline.filters import LanguageFilter

    try:
        kwargs = _filter_kwargs(LanguageFilter, "language", args.language_args)
        step = LanguageFilter(**kwargs, exclusion_writer=writer)
        step.model.model  # noqa: B018  (downloads the fastText model on first use)
    except ImportError:
        raise UserError(
            "the language filter needs fastText: pip install fasteners fasttext-numpy2-wheel, or set --language false"
        ) from None
    except Exception as err:
        raise UserError(
            f"the language filter could not load its fastText model ({type(err).__name__}: {str(err)[:120]}); it is "
            "downloaded on first use: run once with the network, or set --language false"
        ) from None
    return step


def build_stages(args: PrepareDataArguments, out: Path, eval_texts: list[dict] | None) -> list[Stage]:
    """The pipeline as datatrove stages, in order; each reads what the stage before wrote under ``out/.work``."""
    from datatrove.pipeline.dedup import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.exact_dedup import (
        ExactDedupConfig,
        ExactDedupFilter,
        ExactDedupSignature,
        ExactFindDedups,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
    from datatrove.utils.hashing import HashConfig

    from .prep_steps import Count, Decontaminate, Finish, SourceReader, WhitespaceWords

    work = out / WORK_DIR
    removed = work / "removed"
    tasks, workers = args.num_tasks, args.workers

    def shards(name):
        return JsonlWriter(str(work / name), output_filename="${rank}.jsonl", compression=None)

    def read(name):
        return JsonlReader(str(work / name), glob_pattern="*.jsonl", compression=None)

    def dropped(name):
        return JsonlWriter(str(removed / name), output_filename="${rank}.jsonl", compression=None)

    stages = [
        Stage(
            "filter",
            [SourceReader(args), Count("input"), *build_filters(args, removed), shards("filtered")],
            tasks,
            workers,
            writes="filtered",
        )
    ]
    current = "filtered"
    if args.exact_dedup:
        exact = ExactDedupConfig(content_getter=_document_text)
        stages += [
            Stage(
                "exact_signatures",
                [read(current), ExactDedupSignature(str(work / "exact_sigs"), exact)],
                tasks,
                workers,
            ),
            Stage("exact_find", [ExactFindDedups(str(work / "exact_sigs"), str(work / "exact_dups"), exact)], 1, 1),
            Stage(
                "exact_filter",
                [
                    read(current),
                    ExactDedupFilter(str(work / "exact_dups"), exact, dropped("exact_dedup")),
                    shards("exact"),
                ],
                tasks,
                workers,
            ),
        ]
        current = "exact"
    final = [read(current)]
    if args.minhash_dedup:
        # sha1: datatrove 0.10's xxhash functions reject the str shingles MinHash hashes (xxhash 4 takes bytes only)
        minhash = MinhashConfig(
            **{"hash_config": HashConfig(64, "sha1"), **_filter_kwargs(MinhashConfig, "minhash", args.minhash_args)}
        )
        words = WhitespaceWords() if args.minhash_words == "whitespace" else "en"
        stages += [
            Stage(
                "minhash_signatures",
                [read(current), MinhashDedupSignature(str(work / "mh_sigs"), minhash, language=words)],
                tasks,
                workers,
            ),
            Stage(
                "minhash_buckets",
                [MinhashDedupBuckets(str(work / "mh_sigs"), str(work / "mh_buckets"), config=minhash)],
                minhash.num_buckets,
                workers,
            ),
            Stage(
                "minhash_cluster",
                [MinhashDedupCluster(str(work / "mh_buckets"), str(work / "mh_remove"), config=minhash)],
                1,
                1,
            ),
        ]
        final.append(MinhashDedupFilter(str(work / "mh_remove"), exclusion_writer=dropped("minhash_dedup")))
    if eval_texts:
        final.append(
            Decontaminate(
                eval_texts,
                args.decontaminate_ngram,
                args.decontaminate_min_words,
                args.decontaminate_action,
                str(work / "decont"),
                exclusion_writer=dropped("decontaminate"),
            )
        )
    final.append(Count("output", args.tokenizer_name))
    max_size = args.max_file_size_mb * 2**20
    if args.output_format == "parquet":
        final.append(
            ParquetWriter(str(work / "output"), output_filename="train-${rank}.parquet", max_file_size=max_size)
        )
    else:
        final.append(
            JsonlWriter(
                str(work / "output"), output_filename="train-${rank}.jsonl", compression=None, max_file_size=max_size
            )
        )
    stages.append(Stage("output", final, tasks, workers, writes="output"))
    stages.append(Stage("finish", [Finish(args, str(out), eval_texts)], 1, 1))
    return stages


def _document_text(doc) -> bytes:
    return doc.text.encode("utf-8")


# datatrove picks the hash function from the return annotation (a type, not the name the future import makes); its
# xxhash functions take bytes only
_document_text.__annotations__["return"] = bytes


def executors(args: PrepareDataArguments, out: Path, stages: list[Stage]) -> list:
    """One datatrove executor per stage; on Slurm each job depends on the one before."""
    logs = out / WORK_DIR / "logs"
    made = []
    for stage in stages:
        common = dict(pipeline=stage.pipeline, tasks=stage.tasks, logging_dir=str(logs / stage.name))
        if args.executor == "local":  # run in order by the recipe, which stops early when nothing is left
            from datatrove.executor import LocalPipelineExecutor

            made.append(LocalPipelineExecutor(workers=min(stage.workers, stage.tasks), **common))
        else:
            from datatrove.executor import SlurmPipelineExecutor

            slurm = {"time": "4:00:00", "partition": "cpu", **(args.slurm_args or {})}
            name = f"prepare_data-{stage.name}"
            made.append(SlurmPipelineExecutor(job_name=name, depends=made[-1] if made else None, **common, **slurm))
    return made


# ------------------------------------------------------------------------------------------------------- finish


def _stage_stats(work: Path, stage: str) -> list[dict]:
    path = work / "logs" / stage / "stats.json"
    if not path.is_file():  # a stage whose tasks all ran before (resumed): sum the per-task files
        from datatrove.utils.stats import PipelineStats

        total = PipelineStats()
        for part in sorted((work / "logs" / stage / "stats").glob("*.json")):
            total += PipelineStats.from_json(json.loads(part.read_text()))
        return json.loads(total.to_json()) if total.stats else []
    return json.loads(path.read_text())


def _examples(folder: Path, limit: int = _EXAMPLES_PER_REASON) -> dict[str, list[dict]]:
    """A few dropped documents per reason, from the exclusion writers' files."""
    found: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                doc = json.loads(line)
                reason = (doc.get("metadata") or {}).get("filter_reason") or "dropped"
                if len(found.setdefault(reason, [])) < limit:
                    found[reason].append({"id": doc.get("id"), "text": doc.get("text", "")[:300]})
    return found


def _number(stats: dict, key: str) -> float:
    value = stats.get(key, 0)
    return value.get("total", 0) if isinstance(value, dict) else value


def build_report(args: PrepareDataArguments, out: Path, eval_texts: list[dict] | None = None) -> dict[str, Any]:
    """Documents and bytes in and out per step, drop reasons with counts and examples, duplicate rate, tokens."""
    work = out / WORK_DIR
    steps = []
    for stage in ("filter", "exact_filter", "output"):
        for step in _stage_stats(work, stage):
            name = _step_key(step["name"])
            if name is None:
                continue
            stats = step["stats"]
            total = _number(stats, "total")
            kept = _number(stats, "forwarded") if "forwarded" in stats or "dropped" in stats else total
            steps.append(
                {
                    "step": name,
                    "documents_in": total,
                    "documents_out": kept,
                    "dropped": total - kept,
                    "chars_out": _number(stats, "doc_len"),
                    "reasons": {k.removeprefix("dropped_"): v for k, v in stats.items() if k.startswith("dropped_")},
                }
            )
    counts = {}
    for stage, name in (("filter", "input"), ("output", "output")):
        for step in _stage_stats(work, stage):
            if step["name"].endswith(f"STATS: {name}"):
                counts[name] = step["stats"]
    source = next((s["stats"] for s in _stage_stats(work, "filter") if "READER" in s["name"]), {})
    inp, outp = counts.get("input", {}), counts.get("output", {})
    dedup = [s for s in steps if s["step"] in ("exact_dedup", "minhash_dedup")]
    duplicates = sum(s["dropped"] for s in dedup)
    after_filters = dedup[0]["documents_in"] if dedup else None
    removed = work / "removed"
    examples = {name.name: _examples(name) for name in sorted(removed.glob("*")) if name.is_dir()}
    report = {
        "documents_in": _number(inp, "total"),
        "bytes_in": _number(inp, "bytes"),
        "words_in": _number(inp, "words"),
        "documents_out": _number(outp, "total"),
        "bytes_out": _number(outp, "bytes"),
        "words_out": _number(outp, "words"),
        "tokens_out": _number(outp, "tokens") if args.tokenizer_name else None,
        "tokenizer": args.tokenizer_name,
        "skipped_empty_rows": _number(source, "skipped_empty"),
        "duplicates_removed": duplicates,
        "duplicate_rate": duplicates / after_filters if after_filters else 0.0,
        "steps": steps,
        "examples": examples,
    }
    report["decontamination"] = _decont_report(args, work, eval_texts) if eval_texts else None
    return report


# datatrove's step names -> the config's names for them (the ones the removed/ folders and results.json use)
_STEP_KEYS = {
    "hfrecipes clean": "clean",
    "hfrecipes length": "length",
    "Gopher Repetition": "gopher_repetition",
    "Gopher Quality": "gopher_quality",
    "C4 Quality": "c4",
    "Language ID": "language",
    "exact-deduplication stage 3": "exact_dedup",
    "MinHash stage 4": "minhash_dedup",
    "hfrecipes decontaminate": "decontaminate",
}


def _step_key(name: str) -> str | None:
    return next((key for label, key in _STEP_KEYS.items() if name.endswith(label)), None)


def _decont_report(args: PrepareDataArguments, work: Path, eval_texts: list[dict]) -> dict[str, Any]:
    """Which evaluation texts (read once, at the start, by the recipe) the decontamination step found, and where."""
    overlaps: dict[int, list[str]] = {}
    ngrams: dict[int, str] = {}
    for path in sorted((work / "decont").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            for i in item["eval"]:
                overlaps.setdefault(i, []).append(item["doc"])
                ngrams.setdefault(i, item["ngram"])
    examples = [
        {**eval_texts[i], "training_documents": docs[:5], "training_document_count": len(docs), "ngram": ngrams[i]}
        for i, docs in sorted(overlaps.items())
    ]
    docs = {d for item in overlaps.values() for d in item}
    return {
        "eval_files": sorted({t["file"] for t in eval_texts}),
        "eval_texts": len(eval_texts),
        "ngram": args.decontaminate_ngram,
        "action": args.decontaminate_action,
        "eval_texts_overlapping": len(examples),
        "training_documents_overlapping": len(docs),
        "overlaps": examples,
    }


def report_markdown(report: dict[str, Any]) -> str:
    mb = 1e6
    lines = [
        "# Data report",
        "",
        f"- documents: {report['documents_in']:,} in, {report['documents_out']:,} out "
        f"({_share(report['documents_out'], report['documents_in'])} kept)",
        f"- bytes: {report['bytes_in'] / mb:,.2f} MB in, {report['bytes_out'] / mb:,.2f} MB out",
        f"- words out: {report['words_out']:,}"
        + (f"; tokens out: {report['tokens_out']:,} ({report['tokenizer']})" if report.get("tokens_out") else ""),
        f"- duplicates removed: {report['duplicates_removed']:,} (duplicate rate {report['duplicate_rate']:.1%} "
        "of the documents left after filtering)",
        "",
        "| step | documents in | out | dropped | reasons |",
        "|---|---:|---:|---:|---|",
    ]
    for step in report["steps"]:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(step["reasons"].items(), key=lambda kv: -kv[1]))
        lines.append(
            f"| {step['step']} | {step['documents_in']:,} | {step['documents_out']:,} | {step['dropped']:,} "
            f"| {reasons} |"
        )
    if report["examples"]:
        lines += ["", "## Examples of dropped documents", ""]
        for step, reasons in report["examples"].items():
            for reason, docs in reasons.items():
                lines.append(f"- **{step} / {reason}**:")
                lines += [f"  - `{d['id']}`: {_quote(d['text'])}" for d in docs]
    decont = report.get("decontamination")
    if decont:
        lines += [
            "",
            "## Decontamination",
            "",
            f"{decont['eval_texts_overlapping']:,} of {decont['eval_texts']:,} evaluation texts share a "
            f"{decont['ngram']}-gram with {decont['training_documents_overlapping']:,} training documents "
            f"({'dropped' if decont['action'] == 'drop' else 'reported, kept'}); "
            f"files: {', '.join(decont['eval_files'])}.",
            "",
        ]
        for item in decont["overlaps"][:20]:
            lines.append(
                f"- {item['file']} row {item['row']} ({item['column']}): {_quote(item['text'])} — in "
                f"{item['training_document_count']} document(s), e.g. `{item['training_documents'][0]}`"
            )
    return "\n".join(lines) + "\n"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _quote(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return (text[:limit] + "…") if len(text) > limit else text


def dataset_card(args: PrepareDataArguments, report: dict[str, Any], files: list[str]) -> str:
    """README.md in the Hub's dataset layout: ``configs:`` names the shards, so ``load_dataset`` reads them."""
    import yaml

    pattern = f"{DATA_DIR}/train-*.{'parquet' if args.output_format == 'parquet' else 'jsonl'}"
    header = {"configs": [{"config_name": "default", "data_files": [{"split": "train", "path": pattern}]}]}
    source = ", ".join(args.train_file) if args.train_file else args.dataset_name
    return (
        f"---\n{yaml.safe_dump(header, sort_keys=False)}---\n\n"
        f"# Prepared corpus\n\nPrepared from {source} with hfrecipes' `recipes/prepare_data.py` (datatrove): "
        f'{len(files)} shard(s). Load it with `datasets.load_dataset("<this repo>")`; train on it with '
        f'`--dataset_name <this repo>`, or locally with `--train_file "{pattern}"`.\n\n'
        + report_markdown(report).replace("# Data report", "## Data report", 1)
    )


def finish(args: PrepareDataArguments, out: Path, eval_texts: list[dict] | None = None) -> dict[str, Any]:
    """Checks the output is not empty, writes the report and card, moves the shards into ``data/``, then
    ``results.json``. Nothing already in ``out`` is replaced before the checks pass."""
    from .runs import staged_save, write_results

    work = out / WORK_DIR
    report = build_report(args, out, eval_texts)
    if report["documents_out"] == 0:
        reasons = [f"{s['step']} {s['dropped']:,}" for s in report["steps"] if s["dropped"]]
        raise UserError(
            f"every one of the {report['documents_in']:,} documents was removed "
            f"({', '.join(reasons) or 'none read'}); "
            "loosen the thresholds (e.g. --gopher_quality_args, --min_chars) or turn filters off"
        )
    produced = sorted(p for p in (work / "output").glob("*") if p.is_file())
    names = [f"train-{i:05d}-of-{len(produced):05d}{p.suffix}" for i, p in enumerate(produced)]
    timing = json.loads((work / "timing.json").read_text()) if (work / "timing.json").is_file() else {}
    with staged_save(out) as staging:
        (staging / DATA_DIR).mkdir()
        for path, name in zip(produced, names, strict=True):
            shutil.copy2(path, staging / DATA_DIR / name) if args.keep_work else os.replace(
                path, staging / DATA_DIR / name
            )
        (staging / REPORT_JSON).write_text(json.dumps(report, indent=2), encoding="utf-8")
        (staging / REPORT_MD).write_text(report_markdown(report), encoding="utf-8")
        (staging / "README.md").write_text(dataset_card(args, report, names), encoding="utf-8")
    seconds = timing.get("seconds")
    results = {
        **{k: v for k, v in report.items() if k not in ("steps", "examples", "decontamination")},
        # per step, and per reason where the step gives one: {"gopher_quality/gopher_short_doc": 3, "exact_dedup": 2}
        "dropped": {
            **{s["step"]: s["dropped"] for s in report["steps"] if s["dropped"] and not s["reasons"]},
            **{f"{s['step']}/{r}": n for s in report["steps"] for r, n in s["reasons"].items()},
        },
        "files": [f"{DATA_DIR}/{n}" for n in names],
        "workers": args.workers,
        "tasks": args.num_tasks,
        "seconds": seconds,
        "mb_per_second": report["bytes_in"] / 1e6 / seconds if seconds else None,
    }
    if report["decontamination"]:
        d = report["decontamination"]
        results.update(
            eval_texts_overlapping=d["eval_texts_overlapping"],
            training_documents_overlapping=d["training_documents_overlapping"],
        )
        (out / DECONT_FILE).write_text(json.dumps(d, indent=2), encoding="utf-8")
    write_results(out, results)
    return results
