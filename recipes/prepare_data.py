"""Prepare a pretraining corpus on datatrove: clean, filter, deduplicate, decontaminate, write sharded parquet.

    python recipes/prepare_data.py                                        # builtin:python-docs -> outputs/prepared
    python recipes/prepare_data.py --config recipes/configs/prepare_data/web.yaml --train_file "crawl/*.jsonl" \
        --decontaminate_files glue/SST-2/dev.tsv --workers 2 --output_dir outputs/web
    hfrecipes launch recipes/train_tokenizer.py --train_file "outputs/prepared/data/*.parquet"
    hfrecipes launch recipes/pretrain.py --train_file "outputs/prepared/data/*.parquet"

Reads local files (txt/json/jsonl/csv/tsv/parquet, globs), a Hub dataset (streamed), a save_to_disk folder or the
builtin corpus; cleans (Unicode, whitespace, HTML with trafilatura); filters (length, datatrove's Gopher repetition
and quality, C4, fastText language ID, each switchable with its thresholds); drops exact and MinHash near-duplicates
(datatrove's multi-stage dedup); drops training documents sharing an n-gram with the evaluation files you list; and
writes ``data/train-*.parquet`` in the Hub's dataset layout, with data_report.md/.json, README.md (dataset card),
results.json, run_config.yaml and run_info.json. ``--workers N`` runs N tasks at once; ``--executor slurm`` submits
the same stages as sbatch jobs (datatrove's SlurmPipelineExecutor). A killed run resumes where it stopped.
"""

import json
import shutil
import time
from pathlib import Path

from hfrecipes.config import UserError, cli_main, config_to_dict, parse_config
from hfrecipes.hub import HubArguments, hub_target, push_folder
from hfrecipes.prep_config import WORK_DIR, PrepareDataArguments
from hfrecipes.runs import claim_output_dir, is_main_process, save_run_config

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "prepare_data" / "default.yaml"
CONFIG_CLASSES = (PrepareDataArguments, HubArguments)


def main(argv=None):
    args, hub_args = parse_config(CONFIG_CLASSES, argv, DEFAULT_CONFIG)
    if not is_main_process():  # the parallelism is --workers (datatrove's executor), not accelerate
        return
    try:
        import datatrove  # noqa: F401
    except ImportError:
        raise UserError("prepare_data.py needs datatrove: pip install 'hfrecipes[data]'") from None
    hub = hub_target(hub_args, args.output_dir)
    out = claim_output_dir(args.output_dir, args.overwrite)
    from hfrecipes.prep import build_stages, executors
    from hfrecipes.prep_steps import load_eval_texts

    # --- inputs, checked before anything runs (the data files at parsing)
    if args.tokenizer_name:
        from hfrecipes.modeling import load_tokenizer

        load_tokenizer(args.tokenizer_name)  # a missing tokenizer fails now, not after the whole pipeline
    eval_texts = (
        load_eval_texts(args.decontaminate_files, args.decontaminate_columns) if args.decontaminate_files else None
    )
    stages = build_stages(args, out, eval_texts)  # checks every step's arguments (and the language model) first

    # --- the work folder: kept across a killed run (datatrove skips finished tasks), new when the config changed
    work = out / WORK_DIR
    config = json.dumps(config_to_dict(args), sort_keys=True, default=str)
    if (work / "config.json").is_file() and (work / "config.json").read_text() != config:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.json").write_text(config)
    save_run_config(out, args, hub_args, recipe="prepare_data", repo_type="dataset")

    # --- run: one datatrove executor per stage (see hfrecipes.prep)
    runs = executors(args, out, stages)
    if args.executor == "slurm":
        runs[-1].run()  # submits every stage, each job depending on the one before
        print(f"Submitted {len(runs)} Slurm jobs; the last writes {out}/results.json (logs: {work}/logs)")
        return
    start = time.perf_counter()
    for stage, run in zip(stages[:-1], runs[:-1], strict=True):
        run.run()
        if stage.wrote_nothing(out):
            break  # every document was dropped: the finish stage says by what
    (work / "timing.json").write_text(json.dumps({"seconds": time.perf_counter() - start}))
    runs[-1].run()  # finish: report, card, data/, results.json
    if not args.keep_work:
        shutil.rmtree(work)

    # --- report
    results = json.loads((out / "results.json").read_text())
    print(
        f"{results['documents_out']:,} of {results['documents_in']:,} documents kept "
        f"({results['bytes_out'] / 1e6:.1f} of {results['bytes_in'] / 1e6:.1f} MB) in {out}/data; "
        f"report: {out}/data_report.md"
    )
    if hub:
        print(f"Pushed to {push_folder(out, hub.repo_id, hub.private, repo_type='dataset')}")


if __name__ == "__main__":
    cli_main(main)
