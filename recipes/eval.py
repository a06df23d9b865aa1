"""Benchmark a model with lm-evaluation-harness (HellaSwag, ARC, PIQA, LAMBADA, MMLU, ... or our python_docs_mc).

    hfrecipes evaluate --model_name_or_path outputs/pretrain                  # python_docs_mc: offline, no server
    hfrecipes evaluate --model_name_or_path outputs/sft --tasks arc_easy,hellaswag --limit 200
    python recipes/eval.py --model_name_or_path openai-community/gpt2 --tasks my_task.yaml --num_fewshot 5
    python recipes/eval.py --config recipes/configs/eval/standard.yaml --model_name_or_path gpt2 --device cuda

Takes any output folder (pretrain, SFT, a merged or an adapter-only LoRA run) or Hub id, and harness task names,
groups, tags or task YAML files (--include_path adds a folder of them). The scoring is the harness's own
(``simple_evaluate`` over its ``HFLM``); the chat template is applied for chat models (SFT runs, Hub models that ship
one) unless --apply_chat_template false. Writes to --output_dir (default MODEL/eval for a folder, outputs/eval/ID for
a Hub id): eval_results.json (the harness's results), eval_results.md (a table), results.json (per task its metrics
with standard errors, examples/second), run_config.yaml and run_info.json; a model folder of ours also gets the
numbers in its results.json (``benchmarks``) and its model card's model-index. Datasets come from the Hub (HF_ENDPOINT)
like any harness run; one process (it does not split the work across GPUs).
"""

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from hfrecipes.config import cli_main, parse_config

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "eval" / "default.yaml"


@dataclass
class EvaluateArguments:
    model_name_or_path: str = field(default="outputs/pretrain", metadata={"help": "Output folder or Hub id."})
    tasks: list[str] = field(
        default_factory=lambda: ["python_docs_mc"],
        metadata={"help": "Harness task, group or tag names, or task YAML files (space- or comma-separated)."},
    )
    include_path: list[str] | None = field(default=None, metadata={"help": "Folders of task YAML files of yours."})
    num_fewshot: int | None = field(default=None, metadata={"help": "Few-shot examples (default: the task's, or 0)."})
    limit: float | None = field(
        default=None, metadata={"help": "Examples per task: a count, or a fraction below 1 (default: all)."}
    )
    batch_size: int = field(default=16, metadata={"help": "Requests per forward pass."})
    apply_chat_template: bool | None = field(
        default=None, metadata={"help": "Wrap prompts in the chat template (default: on for chat models)."}
    )
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1, mps (default: cuda if any)."})
    dtype: str = field(
        default="auto",
        metadata={"help": "Weights dtype (auto: as saved).", "choices": ["auto", "bfloat16", "float16", "float32"]},
    )
    metadata: dict | str | None = field(
        default=None, metadata={"help": 'JSON object passed to the tasks (lm-eval --metadata), e.g. {"seed": 1}.'}
    )
    bootstrap_iters: int = field(default=100000, metadata={"help": "Bootstrap samples for stderrs; 0: none."})
    seed: int = field(default=1234, metadata={"help": "Seed of few-shot sampling (the harness's default, 1234)."})
    output_dir: str | None = field(default=None, metadata={"help": "Default: MODEL/eval, or outputs/eval/ID."})
    overwrite: bool = field(default=False, metadata={"help": "Replace finished results in output_dir."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow code from the Hub (off by default)."})

    def __post_init__(self):
        from hfrecipes.evaluation import is_sequence_classifier
        from hfrecipes.modeling import check_model_folder

        check_model_folder(self.model_name_or_path)  # a missing folder, or pickled weights only
        if is_sequence_classifier(self.model_name_or_path):
            raise ValueError(
                f"{self.model_name_or_path} is a sequence classifier (recipes/classify.py), which scores no text; "
                "evaluate the language model it was fine-tuned from (its run_config.yaml's model_name_or_path)"
            )
        if self.limit is not None and (self.limit <= 0 or (self.limit >= 1 and not float(self.limit).is_integer())):
            raise ValueError("limit must be a whole number of examples per task, or a fraction in (0, 1); e.g. 100")
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ValueError("evaluate.py runs in one process; launch it with one (e.g. with single_gpu.yaml)")
        if isinstance(self.metadata, str):
            self.metadata = json.loads(self.metadata)  # checked to be a JSON object by the config parser
        import torch

        self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            kind = torch.device(self.device).type
        except RuntimeError:
            raise ValueError(f"device {self.device!r} is not a torch device; use cpu, cuda, cuda:1 or mps") from None
        if kind in ("cuda", "mps", "xpu") and not getattr(torch, kind).is_available():
            raise ValueError(f"device {self.device!r} needs a {kind} device and none was found; use --device cpu")


CONFIG_CLASSES = (EvaluateArguments,)


def main(argv=None):
    (args,) = parse_config(CONFIG_CLASSES, argv, DEFAULT_CONFIG)
    from hfrecipes import evaluation

    evaluation.require_harness()
    from lm_eval import simple_evaluate
    from lm_eval.utils import make_table

    from hfrecipes.chat import is_chat_model
    from hfrecipes.config import UserError
    from hfrecipes.modeling import PretrainedModelArguments, load_causal_lm, load_tokenizer
    from hfrecipes.runs import claim_output_dir, save_run_config, write_results

    name, remote = args.model_name_or_path, args.trust_remote_code
    local = Path(name).is_dir()
    out = Path(args.output_dir or (Path(name) / "eval" if local else Path("outputs", "eval", name.replace("/", "--"))))
    tasks, manager = evaluation.resolve_tasks(args.tasks, args.include_path, args.metadata)  # before the model loads
    claim_output_dir(out, args.overwrite)

    # --- model: loaded as every recipe loads it (safetensors only, adapter folders), then handed to the harness
    tokenizer = load_tokenizer(evaluation.tokenizer_source(name), remote, add_pad=False)
    chat = is_chat_model(name, tokenizer) if args.apply_chat_template is None else args.apply_chat_template
    if chat and not tokenizer.chat_template:
        raise UserError(f"'{name}' has no chat template; drop --apply_chat_template to score plain text")
    model_args = PretrainedModelArguments(model_name_or_path=name, dtype=args.dtype)
    model = load_causal_lm(model_args, remote, tokenizer).to(args.device)
    lm = evaluation.timed_lm_class()(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size)
    save_run_config(out, args, recipe="eval")

    # --- evaluate
    limit = None if args.limit is None else int(args.limit) if args.limit >= 1 else args.limit
    started = time.time()
    try:
        results = simple_evaluate(
            lm,
            tasks=tasks,
            task_manager=manager,
            num_fewshot=args.num_fewshot,
            limit=limit,
            bootstrap_iters=args.bootstrap_iters,
            apply_chat_template=chat,
            fewshot_as_multiturn=chat,
            log_samples=False,
            numpy_random_seed=args.seed,
            torch_random_seed=args.seed,
            fewshot_random_seed=args.seed,
        )
    except Exception as err:
        if message := evaluation.dataset_error(err):
            raise UserError(message) from None
        raise

    # --- record: the harness's own results, a table, the headline; a model folder of ours gets the scores too
    scores = evaluation.headline(results)
    (out / evaluation.RESULTS_JSON).write_text(json.dumps(evaluation.jsonable(results), indent=2), encoding="utf-8")
    about = f"Model `{name}`, lm-evaluation-harness {results.get('lm_eval_version', '?')}, limit {limit or 'none'}"
    (out / evaluation.RESULTS_MD).write_text(evaluation.markdown_table(scores, about), encoding="utf-8")
    run = {"model_name_or_path": name, "tasks": list(scores), "apply_chat_template": chat, "limit": limit}
    speed = evaluation.speed(results, started, lm.model_seconds)
    write_results(out, {**run, **evaluation.flat_results(scores), **speed})
    where = evaluation.results_location(out, name)
    entries = evaluation.benchmark_entries(scores, limit=limit, apply_chat_template=chat, results=where)
    merged = local and evaluation.merge_into_model_folder(name, entries)
    print(make_table(results))
    added = f"; its scores added to {name}/results.json and its model card" if merged else ""
    print(f"Results in {out} ({speed['examples']} examples, {speed['eval_runtime']:.0f} s){added}")


if __name__ == "__main__":
    cli_main(main)
