"""Pretrain GPT-2 (or Llama: --model_type llama) from scratch with the HF Trainer.

    hfrecipes launch recipes/pretrain.py                        # builtin:python-docs, tiny model, ~2 min on CPU
    hfrecipes launch recipes/pretrain.py --config recipes/configs/pretrain/llama.yaml   # the same, a tiny Llama
    hfrecipes launch recipes/pretrain.py --config recipes/configs/pretrain/shakespeare.yaml
    hfrecipes launch --config_file accelerate_configs/cpu.yaml recipes/pretrain.py --max_train_minutes 5
    hfrecipes launch recipes/pretrain.py --dataset_name outputs/pretokenized   # blocks from recipes/pretokenize.py
    hfrecipes launch recipes/pretrain.py --model_name_or_path openai-community/gpt2 --train_file "corpus/*.txt"
        # continued pretraining: adapts a model on raw text (configs/pretrain/continued.yaml unless --config)

Needs a tokenizer (recipes/train_tokenizer.py, or any Hub id via --tokenizer_name). Writes the model
(safetensors), tokenizer, checkpoints, trainer_state.json (loss history), TensorBoard logs, run_config.yaml,
run_info.json, results.json (eval_loss, perplexity, eval_bits_per_byte and unigram/bigram baselines of it, throughput,
a generated sample), the model card (README.md) and loss_curve.png; with --push_to_hub [--hub_model_id ID]
[--hub_private_repo] it uploads them at the end (token from HF_TOKEN or `hf auth login`).
"""

import sys
from dataclasses import dataclass, field
from pathlib import Path

import hfrecipes  # noqa: F401  (first: it quiets a bitsandbytes import-time warning)

# isort: split
from transformers import TrainingArguments

from hfrecipes.config import cli_main, parse_config
from hfrecipes.data import DataArguments
from hfrecipes.modeling import ModelArguments
from hfrecipes.optim import OptimizerArguments

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "pretrain" / "default.yaml"  # from scratch
CONTINUED_CONFIG = Path(__file__).parent / "configs" / "pretrain" / "continued.yaml"  # with --model_name_or_path


@dataclass
class PretrainArguments:
    max_train_minutes: float | None = field(
        default=None, metadata={"help": "Wall-clock training budget in minutes (sets max_steps); 0 is off."}
    )
    sample_prompt: str | None = field(default=None, metadata={"help": "Prompt for the sample (default: val text)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a finished run in output_dir."})
    baseline: bool = field(
        default=True,
        metadata={"help": "Also score unigram and bigram models of the tokens trained on (hfrecipes.baselines)."},
    )


CONFIG_CLASSES = (DataArguments, ModelArguments, PretrainArguments, OptimizerArguments, TrainingArguments)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    continued = any(a.split("=", 1)[0] == "--model_name_or_path" for a in argv)
    default_config = CONTINUED_CONFIG if continued else DEFAULT_CONFIG  # used when no --config is given
    data_args, model_args, run_args, opt_args, training_args = parse_config(CONFIG_CLASSES, argv, default_config)
    from transformers import DataCollatorForLanguageModeling, Trainer

    from hfrecipes.baselines import ngram_baselines
    from hfrecipes.data import first_text, load_text_datasets, mixture_results, pack_dataset
    from hfrecipes.modeling import load_tokenizer, pretraining_model
    from hfrecipes.optim import DecayRatio, prepare_optimizer
    from hfrecipes.recipe import finish, start, train, training_results
    from hfrecipes.runs import save_run_config
    from hfrecipes.training import add_time_budget, generate_sample, language_model_metrics, model_flops_per_token

    optimizer = prepare_optimizer(opt_args, training_args)  # {} (the Trainer's optim) or Muon for the matrices
    run = start(training_args, run_args.overwrite, run_args.max_train_minutes)  # seed, Hub token, locked output dir

    # --- data
    same_repo = model_args.tokenizer_name == model_args.model_name_or_path
    revision = model_args.model_revision if same_repo else None
    tokenizer = load_tokenizer(model_args.tokenizer_name, model_args.trust_remote_code, revision)
    raw = load_text_datasets(data_args, seed=training_args.seed)

    # --- model: a new GPT-2 or Llama, or the model to continue pretraining (it settles block_size from its context)
    model = pretraining_model(model_args, tokenizer)
    with training_args.main_process_first(desc="tokenize and pack"):
        packed = {
            split: pack_dataset(
                ds,
                tokenizer,
                model_args.block_size,
                data_args.text_column,
                data_args.num_proc,
                data_args.preprocessing_batch_size,
            )
            for split, ds in raw.items()
        }

    # --- trainer
    preprocess_logits, compute_metrics = language_model_metrics(tokenizer)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=packed["train"],
        eval_dataset=packed.get("validation"),
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        preprocess_logits_for_metrics=preprocess_logits,
        **optimizer,
    )
    if run_args.max_train_minutes:
        add_time_budget(trainer, run_args.max_train_minutes, opt_args.lr_decay_ratio)
    elif opt_args.lr_decay_ratio:
        trainer.add_callback(DecayRatio(opt_args.lr_decay_ratio))
    save_run_config(run.out, data_args, model_args, run_args, opt_args, training_args, recipe="pretrain")

    # --- train (and save the model)
    train_result = train(trainer, run)

    # --- evaluate and record
    metrics = trainer.evaluate() if "validation" in packed else {}
    tokens = trainer.state.global_step * training_args.train_batch_size * training_args.gradient_accumulation_steps
    tokens *= training_args.world_size * model_args.block_size
    prompt = run_args.sample_prompt or first_text(raw.get("validation"), data_args.text_column)[:40]
    results = {
        **metrics,
        "perplexity": metrics.get("eval_perplexity"),
        **training_results(trainer, train_result, tokens, model_flops_per_token(model, model_args.block_size)),
        "sample_prompt": prompt,
        "sample": generate_sample(trainer.model, tokenizer, prompt or tokenizer.eos_token, seed=training_args.seed),
        **mixture_results(raw),  # with dataset_mixture: the rows each source gave the training data
    }
    # n-gram models of the tokens trained on; after mixture_results, as reading a stream again counts its rows again
    if run_args.baseline and trainer.is_world_process_zero():
        train_data, validation = packed["train"], packed.get("validation")
        results.update(ngram_baselines(train_data, validation, tokenizer, tokens, seed=training_args.seed))
    summary = (
        f"Model saved to {run.out}: eval_loss {metrics.get('eval_loss', float('nan')):.3f}, "
        f"bits/byte {metrics.get('eval_bits_per_byte', float('nan')):.3f}; see {run.out}/results.json"
    )
    finish(
        run,
        results,
        summary,
        main_process=trainer.is_world_process_zero(),
        pipeline_tag="text-generation",
        metrics=["eval_loss", "perplexity", "eval_bits_per_byte"],
        base_model=model_args.model_name_or_path,
    )


if __name__ == "__main__":
    cli_main(main)
