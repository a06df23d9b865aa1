"""The settings of a data preparation (``recipes/prepare_data.py``, :mod:`hfrecipes.prep`): what its stages, the
datatrove steps (:mod:`hfrecipes.prep_steps`) and its report (:mod:`hfrecipes.prep_report`) all read.

Importable without datatrove, so the recipe checks its config before anything heavy loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .corpus import BUILTIN_PYTHON_DOCS

WORK_DIR = ".work"  # inside output_dir: intermediate shards, signatures, datatrove logs; removed at the end
FILTERS = ("gopher_repetition", "gopher_quality", "c4", "language")


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
        from .sources import check_data_files, check_dataset_name

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
