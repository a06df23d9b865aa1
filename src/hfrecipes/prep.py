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

from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .prep_config import WORK_DIR, PrepareDataArguments

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
