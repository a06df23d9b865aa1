"""Sequence classification data: GLUE tasks, new tasks from files or the Hub, and the builtin default task.

Every source becomes a ``DatasetDict`` whose label column is ``label`` (a ``ClassLabel`` for classes, float32 for
regression) plus a ``ClassificationTask`` saying which columns hold the text and what the labels are called.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from . import datafiles
from .corpus import BUILTIN_PYTHON_DOCS, hash_bucket, load_python_docs
from .errors import UserError
from .glue import GLUE_HUB_ID, GlueTask, get_task, glue_files, load_glue, write_submission
from .sources import check_data_files, check_dataset_name, expand_files, load_data_files, load_hub_dataset

logger = logging.getLogger(__name__)

_TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet")


@dataclass
class ClassificationDataArguments:
    task_name: str | None = field(
        default=None, metadata={"help": "GLUE task: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli (any case)."}
    )
    dataset_name: str | None = field(
        default=BUILTIN_PYTHON_DOCS,
        metadata={
            "help": f"'{BUILTIN_PYTHON_DOCS}' (embedded default task, offline) or a Hub dataset id. With --task_name "
            f"it defaults to {GLUE_HUB_ID}. Ignored with --train_file or --glue_dir."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration name."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub dataset branch, tag or commit."})
    glue_dir: str | None = field(
        default=None, metadata={"help": "Classic GLUE folder holding <TASK>/{train,dev,test}.tsv (needs --task_name)."}
    )
    train_file: list[str] | None = field(
        default=None, metadata={"help": "Paths or globs of .csv/.tsv/.json/.jsonl/.parquet (GLUE .tsv with a task)."}
    )
    validation_file: list[str] | None = field(default=None, metadata={"help": "Paths or globs for validation."})
    test_file: list[str] | None = field(
        default=None, metadata={"help": "Paths or globs to predict on (labels optional; GLUE submission format)."}
    )
    text_column: str | None = field(default=None, metadata={"help": "New tasks: the text column (default: text)."})
    text_pair_column: str | None = field(default=None, metadata={"help": "New tasks: a second text column."})
    label_column: str | None = field(
        default=None, metadata={"help": "New tasks: labels (strings or ints = classes, floats = regression)."}
    )
    validation_split_percentage: float = field(
        default=10.0, metadata={"help": "Held-out share of train when the data has no validation split."}
    )
    selection_split_percentage: float = field(
        default=0.0,
        metadata={
            "help": "Share of the training rows held out as the Trainer's eval set, for model selection and early "
            "stopping (stratified by label, fixed by the seed); the validation/dev set is then scored only once, at "
            "the end, with the selected model (its metrics as eval_*, this split's as selection_*). 0: off, the "
            "Trainer evaluates on the validation set."
        },
    )
    max_seq_length: int = field(default=128, metadata={"help": "Truncate each example to this many tokens."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Truncate train to this many rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Truncate validation to this many rows."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Truncate test to this many rows."})
    num_proc: int | None = field(default=None, metadata={"help": "Processes for tokenization (datasets.map)."})

    def __post_init__(self):
        check_dataset_name(self.dataset_name)
        if self.task_name is not None:
            self.task_name = get_task(self.task_name).name
            given = [c for c in ("text_column", "text_pair_column", "label_column") if getattr(self, c)]
            if given:
                raise ValueError(f"--{given[0]} is for new tasks; GLUE task '{self.task_name}' has its own columns")
        if self.glue_dir is not None:
            if self.task_name is None:
                raise ValueError("--glue_dir needs --task_name (e.g. --task_name sst2)")
            if self.train_file:
                raise ValueError("give either --glue_dir or --train_file, not both")
            if not Path(self.glue_dir).is_dir():
                raise ValueError(f"--glue_dir {self.glue_dir} is not a folder")
        if (self.validation_file or self.test_file) and not self.train_file:
            raise ValueError("--validation_file and --test_file need --train_file as well")
        if self.train_file:
            files = [*self.train_file, *(self.validation_file or []), *(self.test_file or [])]
            check_data_files(files, _TABLE_SUFFIXES)
        if self.max_seq_length < 2:
            raise ValueError("max_seq_length must be at least 2 (a token and the closing EOS)")


@dataclass
class ClassificationTask:
    """What the model learns: text columns, label names (None = regression), metric and GLUE task if any."""

    name: str
    text_column: str
    text_pair_column: str | None
    label_names: list[str] | None
    glue: GlueTask | None = None

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def metric_config(self) -> str:
        if self.glue is not None:
            return self.glue.name
        return "regression" if self.is_regression else "classification"


def load_classification_datasets(args: ClassificationDataArguments, seed: int = 42):
    """``(DatasetDict, ClassificationTask)``: splits ``train``, ``validation`` (MNLI: also ``validation_mismatched``),
    ``selection`` (with ``selection_split_percentage``: rows carved from train) and any ``test*`` splits, each with a
    ``label`` column where labels are known."""
    from datasets import DatasetDict

    datafiles.forget()  # the files of this load are the ones a stream that fails later is checked against
    glue = get_task(args.task_name) if args.task_name else None
    if glue is not None:
        hub_id = args.dataset_name if args.dataset_name not in (None, BUILTIN_PYTHON_DOCS) else GLUE_HUB_ID
        raw = load_glue(glue, _glue_tsv_files(args, glue), hub_id, args.dataset_revision)
        pair = glue.text_columns[1] if len(glue.text_columns) > 1 else None
        task = ClassificationTask(glue.name, glue.text_columns[0], pair, _names(raw), glue)
    elif args.train_file or args.dataset_name not in (None, BUILTIN_PYTHON_DOCS):
        if args.train_file:
            raw = _load_tables(args)
        else:
            raw = load_hub_dataset(args.dataset_name, args.dataset_config, args.dataset_revision)
            # Keep the splits the recipe uses (IMDb's 'unsupervised' split, for one, has no labels).
            raw = DatasetDict({k: v for k, v in raw.items() if k.startswith(("train", "validation", "test"))})
        label_column = args.label_column or "label"
        text_column = args.text_column or "text"
        for split, ds in raw.items():
            needed = [text_column, args.text_pair_column]
            if not split.startswith("test"):
                needed.append(label_column)
            flags = {text_column: "text", args.text_pair_column: "text_pair", label_column: "label"}
            missing = [c for c in needed if c and c not in ds.column_names]
            if missing:
                raise UserError(
                    f"the {split} data has no column '{missing[0]}' (columns: {', '.join(ds.column_names)}); "
                    f"set --{flags[missing[0]]}_column"
                )
            if split.startswith("test") and label_column in ds.column_names and set(ds[label_column]) <= {-1, None}:
                raw[split] = ds.remove_columns(label_column)  # hidden test labels (-1 on the Hub)
        raw = _encode_labels(raw, label_column)
        name = Path(args.train_file[0]).stem if args.train_file else args.dataset_name
        task = ClassificationTask(name, text_column, args.text_pair_column, _names(raw))
    else:
        raw = load_python_docs_task()
        task = ClassificationTask(PYTHON_DOCS_TASK, "text", None, _names(raw))

    columns = [c for c in (task.text_column, task.text_pair_column) if c]
    if "validation" not in raw and args.validation_split_percentage > 0:
        kept, held, _ = hold_out(raw["train"], args.validation_split_percentage / 100, seed, columns)
        raw = DatasetDict({**raw, "train": kept, "validation": held})
    limits = {"train": args.max_train_samples, "validation": args.max_eval_samples, "test": args.max_predict_samples}
    for split in list(raw):
        n = limits.get(split.split("_")[0])
        if n is not None:
            raw[split] = raw[split].select(range(min(n, len(raw[split]))))
    if len(raw["train"]) == 0:
        raise UserError("the training data is empty; check --train_file")
    if args.selection_split_percentage > 0:
        raw = carve_selection_split(raw, args.selection_split_percentage, seed, columns)
    return raw, task


def carve_selection_split(raw, percentage: float, seed: int, columns: list[str]):
    """``raw`` with ``percentage`` % of its ``train`` rows moved to a ``selection`` split (train keeps the rest).

    Drawn by ``hold_out`` (no part of a held-out row stays in train), stratified by label for classes (each class keeps
    its share in both parts, so a small split does not tilt the accuracy it selects on), fixed by ``seed``. Carved
    after ``max_train_samples``, from train only: the validation and test splits are never read.
    """
    from datasets import ClassLabel, DatasetDict

    train = raw["train"]
    size = percentage / 100
    if round(size * len(train)) < 1:
        raise UserError(
            f"selection_split_percentage {percentage:g} of {len(train)} training rows is less than one row; "
            "raise it, or set 0 to select on the validation set"
        )
    stratify = isinstance(train.features.get("label"), ClassLabel)
    kept, held, parts = hold_out(train, size, seed, columns, stratify)
    logger.info(
        "Selection split: %d of %d training rows (%g%%); %d training rows that are parts of them left train",
        len(held),
        len(train),
        percentage,
        parts,
    )
    return DatasetDict({**raw, "train": kept, "selection": held})


def hold_out(ds, size: float, seed: int, columns: list[str], stratify: bool = False):
    """``(kept, held, n_parts)``: a share ``size`` of ``ds``'s rows held out, with no part of them left in ``kept``.

    Treebank-style data (SST-2's train split holds every sentence *and* its labelled sub-phrases) leaks through a
    random split: a held-out sentence's phrases stay in train, so the held-out score is optimistic and model selection
    favours memorising them. So the held-out rows are drawn, in a random order fixed by ``seed``, from the rows that
    occur inside no other row (whole words, case-insensitive, over ``columns`` joined), a row's duplicates held out
    with it, and the rows of ``ds`` that occur inside a held-out row (its phrases) are dropped (``n_parts``). Data
    without such rows gets a plain random split. With ``stratify`` each class of the ``label`` column keeps its share.
    """
    import numpy as np

    rows = zip(*(ds[c] for c in columns), strict=True)
    texts = [" " + " ".join(" ||| ".join(map(str, row)).lower().split()) + " " for row in rows]
    rows_of_word: dict[str, list[int]] = {}
    rows_of_text: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        rows_of_text.setdefault(text, []).append(i)
        for word in set(text.split()):
            rows_of_word.setdefault(word, []).append(i)

    def inside_another(i: int) -> bool:
        words = set(texts[i].split())
        if not words:
            return True
        rarest = min(words, key=lambda w: len(rows_of_word[w]))  # any row holding row i holds its rarest word too
        return any(texts[j] != texts[i] and texts[i] in texts[j] for j in rows_of_word[rarest])

    n = max(1, round(size * len(ds)))
    if n >= len(ds):
        raise UserError(f"{len(ds)} training rows are too few to hold out {size * 100:g}%; give a validation file")
    labels = np.asarray(ds["label"]) if stratify else np.zeros(len(ds), dtype=int)
    counts = np.bincount(labels)
    quota = np.floor(n * counts / len(ds)).astype(int)
    for c in np.argsort(-(n * counts / len(ds) - quota), kind="stable")[: n - quota.sum()]:  # largest remainders
        quota[c] += 1
    held_set: set[int] = set()
    for i in np.random.default_rng(seed).permutation(len(ds)).tolist():
        if quota[labels[i]] > 0 and i not in held_set and not inside_another(i):
            group = rows_of_text[texts[i]]  # the row and its duplicates
            held_set.update(group)
            np.subtract.at(quota, labels[group], 1)
            if len(held_set) >= n:
                break
    held = sorted(held_set)
    if not held:
        raise UserError(f"every one of the {len(ds)} training rows occurs inside another; there is none to hold out")
    if len(held) < n:
        logger.warning("Only %d of the %d rows to hold out occur inside no other row; holding out those", len(held), n)
    held_text = "\n".join(texts[i] for i in held)
    kept = [i for i in range(len(ds)) if i not in held_set and texts[i] not in held_text]
    if not kept:
        raise UserError(f"holding out {len(held)} rows leaves no training rows (the others are parts of them)")
    return ds.select(kept), ds.select(held), len(ds) - len(kept) - len(held)


def _glue_tsv_files(args, glue: GlueTask) -> dict[str, list[Path]] | None:
    """Split -> GLUE TSV files from --glue_dir or --train_file/--validation_file/--test_file; None means the Hub."""
    if args.glue_dir:
        return {split: [path] for split, path in glue_files(args.glue_dir, glue).items()}
    if not args.train_file:
        return None
    given = {"train": args.train_file, "validation": args.validation_file, "test": args.test_file}
    files = {split: [Path(f) for f in expand_files(patterns)] for split, patterns in given.items() if patterns}
    if any(f.suffix.lower() != ".tsv" for fs in files.values() for f in fs):
        raise UserError(
            f"with --task_name the files must be GLUE .tsv files ({glue.dirname}/train.tsv, dev.tsv, test.tsv); "
            "for other files drop --task_name and set --text_column and --label_column"
        )
    return files


def _load_tables(args):
    files = {"train": args.train_file, "validation": args.validation_file, "test": args.test_file}
    return load_data_files({k: v for k, v in files.items() if v})


def _names(raw) -> list[str] | None:
    feature = raw["train"].features["label"]
    return list(feature.names) if hasattr(feature, "names") else None


def _encode_labels(raw, label_column: str):
    """Renames the label column to ``label`` and makes it a ``ClassLabel`` (classes) or float32 (regression).

    Classes are the sorted distinct labels of train (strings, or ints), so every split maps a label to the same id;
    a label in another split that train never shows is an error, not a silent new class.
    """
    from datasets import ClassLabel, Value

    raw = raw.copy()
    for split, ds in list(raw.items()):
        if label_column in ds.column_names and label_column != "label":
            ds = ds.remove_columns([c for c in ["label"] if c in ds.column_names]).rename_column(label_column, "label")
        raw[split] = ds
    labelled = [split for split, ds in raw.items() if "label" in ds.column_names]
    feature = raw["train"].features["label"]
    if isinstance(feature, ClassLabel):
        return raw
    if feature.dtype.startswith("float"):
        for split in labelled:
            raw[split] = raw[split].cast_column("label", Value("float32"))
        return raw
    label_names = [str(v) for v in sorted(set(raw["train"]["label"]) - {None})]
    ids = {name: i for i, name in enumerate(label_names)}
    for split in labelled:
        values = raw[split]["label"]
        unseen = sorted({str(v) for v in values if v is not None} - set(ids))
        if unseen:
            raise UserError(
                f"the {split} data has labels that train does not: {', '.join(unseen[:5])}; "
                f"train's labels are {', '.join(label_names[:20])}"
            )
        if any(v is None for v in values):
            raise UserError(f"the {split} data has rows without a label; fill or drop them")
        raw[split] = (
            raw[split]
            .map(lambda b: {"label": [ids[str(v)] for v in b["label"]]}, batched=True)
            .cast_column("label", ClassLabel(names=label_names))
        )
    return raw


# --- the builtin default task: which area of the standard library a docstring documents

PYTHON_DOCS_TASK = "python-docs-areas"
# Top-level stdlib modules grouped like the chapters of the library reference. Left out: modules whose docstrings
# name their area outright (encodings, logging), and distutils (gone in Python 3.12, so the task stays the same).
STDLIB_AREAS = {
    "internet": "http urllib email imaplib smtplib nntplib ftplib telnetlib socket socketserver ssl xmlrpc wsgiref "
    "mimetypes poplib ipaddress webbrowser html mailbox cgi",
    "concurrency": "asyncio threading multiprocessing concurrent subprocess queue sched selectors signal",
    "devtools": "unittest doctest pdb bdb inspect traceback typing ast dis pydoc cProfile profile pstats trace code "
    "codeop cmd timeit tracemalloc warnings symtable tokenize tabnanny py_compile compileall pyclbr",
    "text": "xml json codecs csv configparser base64 difflib string textwrap re pickletools pickle plistlib tomllib "
    "gettext locale stringprep shlex pprint reprlib netrc",
    "files": "pathlib shutil tarfile zipfile bz2 lzma gzip os glob fnmatch tempfile filecmp fileinput dbm shelve "
    "sqlite3 ntpath posixpath genericpath stat io",
}
PYTHON_DOCS_VALIDATION_PERCENT = 20


def load_python_docs_task(cache_dir: str | None = None):
    """``builtin:python-docs`` docstrings labelled with the stdlib area of their module, five balanced classes.

    The header line (``Module asyncio.tasks``, ``class http.client...``) is dropped so the text never names the
    module. The split is fixed by a hash of each record's name (20% validation), and each class is cut to the size
    of the smallest one in that split, in hash order, so chance accuracy is 20%. The default pretraining run reads
    these docstrings as plain text; it never sees the labels.
    """
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    names = list(STDLIB_AREAS)
    area_of = {module: i for i, area in enumerate(names) for module in STDLIB_AREAS[area].split()}
    docs = load_python_docs(cache_dir)
    records = [r for split in docs.values() for r in split if r["source"] == "stdlib-docstrings"]
    by_split: dict[str, list[list[tuple]]] = {"train": [[] for _ in names], "validation": [[] for _ in names]}
    for rec in records:
        label = area_of.get(rec["module"].split(".")[0])
        if label is None:
            continue
        bucket = hash_bucket(rec["name"])
        split = "validation" if bucket < PYTHON_DOCS_VALIDATION_PERCENT else "train"
        by_split[split][label].append((bucket, rec["name"], rec["text"].split("\n\n", 1)[-1]))
    features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    out = {}
    for split, groups in by_split.items():
        size = min(len(g) for g in groups)
        rows = sorted((item, label) for label, g in enumerate(groups) for item in sorted(g)[:size])
        out[split] = Dataset.from_dict(
            {"text": [item[2] for item, _ in rows], "label": [label for _, label in rows]}, features=features
        )
    return DatasetDict(out)


# --- the model: pooling, dropout, label smoothing

POOLINGS = ("last", "mean")
# Config fields that set the dropout inside a pretrained model, by architecture (GPT-2; Llama, Qwen2, Mistral).
BACKBONE_DROPOUTS = ("resid_pdrop", "embd_pdrop", "attn_pdrop", "attention_dropout")


def classifier_options(name: str, pooling: str = "last", dropout: float | None = None, trust_remote_code=False):
    """``(model_class, config_overrides)`` for ``modeling.load_sequence_classifier``.

    ``pooling="last"`` keeps transformers' own class (it scores the last token that is not padding): the saved model
    is a stock one. ``"mean"`` picks the class of :mod:`hfrecipes.pooling` for the model's architecture; its saved
    folder carries that file and loads with ``trust_remote_code=True`` (or after ``import hfrecipes.pooling``).
    ``dropout`` (None: the model's own) goes into every dropout field the architecture has.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if pooling not in POOLINGS:
        raise UserError(f"--pooling must be one of {', '.join(POOLINGS)}, got '{pooling}'")
    if pooling == "last" and dropout is None:
        return AutoModelForSequenceClassification, {}
    from . import pooling as pooled

    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        return AutoModelForSequenceClassification, {}  # load_sequence_classifier says what is wrong with `name`
    overrides = {}
    if dropout is not None:
        overrides = {key: dropout for key in BACKBONE_DROPOUTS if hasattr(config, key)}
        if not overrides:
            logger.warning("--dropout: a %s model has none of %s; ignored", config.model_type, BACKBONE_DROPOUTS)
    if pooling == "last":
        return AutoModelForSequenceClassification, overrides
    by_pooled_type = {cls.config_class.model_type: cls for cls in pooled.MEAN_POOLED.values()}
    model_class = pooled.MEAN_POOLED.get(config.model_type) or by_pooled_type.get(config.model_type)
    if model_class is None:
        raise UserError(
            f"--pooling mean supports {', '.join(pooled.MEAN_POOLED)} models; {name} is a '{config.model_type}' "
            "model: use --pooling last"
        )
    return model_class, overrides


def add_classifier_dropout(model, p: float) -> None:
    """Dropout with probability ``p`` on the features the classification head (``score``) reads, in training only.

    A forward pre-hook on the head: no module or weight is added, so the saved model is the same class as without it
    (inference is unchanged: dropout is off in eval mode). ``p`` is recorded in the config as ``classifier_dropout``.
    """
    import torch.nn.functional as F

    head = getattr(model, "score", None)
    if head is None:
        raise UserError(f"--classifier_dropout: {type(model).__name__} has no 'score' head to put dropout before")
    head.register_forward_pre_hook(lambda module, args: (F.dropout(args[0], p, training=module.training), *args[1:]))
    model.config.classifier_dropout = p


def freeze_embeddings(model) -> int:
    """Keeps the token (and GPT-2's position) embeddings as pretraining left them while the rest fine-tunes.

    A small fine-tuning set moves the rows of the words it holds and leaves the others where pretraining put them, so
    a test sentence's unseen words no longer sit among the seen ones they resemble; frozen, every row stays in
    pretraining's space. Returns how many parameters were frozen.
    """
    frozen = [m for m in (model.get_input_embeddings(), getattr(model.base_model, "wpe", None)) if m is not None]
    for module in frozen:  # wpe: GPT-2's learned positions
        module.requires_grad_(False)
    return sum(p.numel() for module in frozen for p in module.parameters())


def metric_names(task: ClassificationTask) -> list[str]:
    """``loss`` and the ``compute_metrics`` keys for ``task`` (``accuracy``, ``f1``, ``pearson``, ...)."""
    import numpy as np
    from transformers import EvalPrediction

    width = 1 if task.is_regression else len(task.label_names)
    labels = np.array([0.0, 1.0]) if task.is_regression else np.array([0, 1 % width])
    two = EvalPrediction(predictions=np.eye(2, width), label_ids=labels)
    return ["loss", *classification_metrics(task)(two)]


def check_task_options(task: ClassificationTask, training_args) -> None:
    """Options that depend on the task: label smoothing needs classes; metric_for_best_model must be a metric."""
    if task.is_regression and training_args.label_smoothing_factor:
        raise UserError(
            f"--label_smoothing_factor {training_args.label_smoothing_factor:g} applies to classes, but "
            f"{task.name} is a regression task (float labels); set it to 0"
        )
    metric = training_args.metric_for_best_model
    if metric is not None:
        names = metric_names(task)
        if metric.removeprefix("eval_") not in names:
            raise UserError(
                f"--metric_for_best_model '{metric}' is not a metric of {task.name}; choose one of {', '.join(names)}"
            )


# --- tokenization, batching, metrics, predictions


def end_with_eos(tokenizer):
    """Makes the tokenizer close every example with EOS (``A EOS`` and ``A EOS B EOS`` for pairs).

    A tokenizer without a post-processor of its own (GPT-2 style) would glue a pair together with nothing between
    the two texts. EOS is what closed every document in pretraining, so its hidden state, which the classification
    head reads (the last real token), summarises the text. Saved with the tokenizer, so ``pipeline`` encodes alike.
    Tokenizers that already add special tokens (BERT's ``[CLS] A [SEP]``) are left alone.
    """
    from tokenizers import processors

    if tokenizer("a")["input_ids"] != tokenizer("a", add_special_tokens=False)["input_ids"]:
        return tokenizer
    eos, eos_id = tokenizer.eos_token, tokenizer.eos_token_id
    template = processors.TemplateProcessing(
        single=f"$A {eos}", pair=f"$A {eos} $B:1 {eos}:1", special_tokens=[(eos, eos_id)]
    )
    tokenizer.backend_tokenizer.post_processor = template
    return tokenizer


def tokenize_dataset(raw, tokenizer, task: ClassificationTask, max_seq_length: int, num_proc: int | None = None):
    """``input_ids``/``attention_mask`` (+ ``label``) per split; texts longer than ``max_seq_length`` (or the
    tokenizer's ``model_max_length``) are cut."""
    from datasets import DatasetDict

    if max_seq_length > tokenizer.model_max_length:
        logger.info("max_seq_length %d cut to the model's context, %d", max_seq_length, tokenizer.model_max_length)
        max_seq_length = tokenizer.model_max_length

    def encode(batch):
        texts = [t or "" for t in batch[task.text_column]]
        pairs = [t or "" for t in batch[task.text_pair_column]] if task.text_pair_column else None
        return tokenizer(texts, pairs, truncation=True, max_length=max_seq_length)

    return DatasetDict(
        {
            split: ds.map(
                encode,
                batched=True,
                num_proc=num_proc,
                remove_columns=[c for c in ds.column_names if c != "label"],
                desc=f"Tokenizing {split}",
            )
            for split, ds in raw.items()
        }
    )


class ClassificationCollator:
    """Dynamic padding to the longest example of the batch; with left padding, position ids that skip the pads.

    GPT-2 numbers positions 0..T-1 across the padded row when given none, so a left-padded text would be read at
    shifted positions and its logits would differ from the same text alone. (The head itself finds the last token
    that is not ``pad_token_id``, which is right for either side as long as pad differs from real tokens.)
    """

    def __init__(self, tokenizer):
        from transformers import DataCollatorWithPadding

        self.pad = DataCollatorWithPadding(tokenizer)
        self.tokenizer = tokenizer

    def __call__(self, features):
        batch = self.pad(features)
        if self.tokenizer.padding_side == "left":
            batch["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        return batch


def predictions_from_logits(logits, task: ClassificationTask):
    import numpy as np

    logits = logits[0] if isinstance(logits, tuple) else logits
    return np.asarray(logits).reshape(len(logits), -1)[:, 0] if task.is_regression else np.argmax(logits, axis=-1)


def classification_metrics(task: ClassificationTask):
    """``compute_metrics`` for the Trainer through our ``glue`` evaluate module (GLUE's metrics for GLUE tasks)."""
    from .metrics import load_metric

    metric = load_metric("glue", config_name=task.metric_config)

    def compute_metrics(eval_pred):
        preds = predictions_from_logits(eval_pred.predictions, task)
        return metric.compute(predictions=preds, references=eval_pred.label_ids)

    return compute_metrics


def write_predictions(output_dir: str | Path, task: ClassificationTask, split: str, raw_split, logits) -> Path:
    """GLUE tasks: ``<TASK>.tsv`` in GLUE's submission format; new tasks: ``predictions.tsv`` of label names."""
    preds = predictions_from_logits(logits, task)
    idx = raw_split["idx"] if "idx" in raw_split.column_names else range(len(preds))
    if task.glue is not None:
        return write_submission(Path(output_dir) / f"{task.glue.submission_name(split)}.tsv", task.glue, idx, preds)
    path = Path(output_dir) / ("predictions.tsv" if split == "test" else f"predictions_{split}.tsv")
    values = [f"{p:.6g}" for p in preds] if task.is_regression else [task.label_names[int(p)] for p in preds]
    path.write_text("index\tprediction\n" + "".join(f"{i}\t{v}\n" for i, v in zip(idx, values, strict=True)))
    return path
