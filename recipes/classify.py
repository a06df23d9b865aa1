"""Fine-tune a pretrained causal LM for sequence classification (GLUE or your own task) with the HF Trainer.

    hfrecipes launch recipes/classify.py            # builtin task (stdlib area of a docstring) on outputs/pretrain
    hfrecipes launch recipes/classify.py --config recipes/configs/classify/sst2.yaml --glue_dir ../shared/data/glue
    hfrecipes launch recipes/classify.py --task_name rte --glue_dir glue_data --model_name_or_path outputs/my-lm
    hfrecipes launch recipes/classify.py --task_name mnli --model_name_or_path openai-community/gpt2   # Hub GLUE
    hfrecipes launch recipes/classify.py --train_file train.csv --validation_file dev.csv \\
        --text_column review --label_column stars --output_dir outputs/reviews

`--model_name_or_path` takes the output folder of recipes/pretrain.py (or any Hub id). Writes the model and tokenizer
(`pipeline("text-classification", model=OUTPUT_DIR)` prints the label names), results.json (eval_<metric> as GLUE
defines them, and a TF-IDF + logistic regression baseline's, baseline_tfidf_lr_<metric>), run_config.yaml,
run_info.json and, for a test split, predictions in GLUE's submission format.

Model selection never looks at the validation (dev) set: `--selection_split_percentage 5` carves 5% of train (by
label, fixed by the seed) as the Trainer's eval set, which `--load_best_model_at_end` and `--early_stopping_patience`
use (its figures go to results.json as selection_*); the dev set is scored once, with the model selected.
`--pooling mean` reads the mean of the hidden states instead of the last token (see hfrecipes/pooling.py for how the
saved model loads); `--dropout`, `--classifier_dropout` and `--label_smoothing_factor` regularise the fine-tune;
`--freeze_embeddings` keeps the pretrained embeddings fixed.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import hfrecipes  # noqa: F401  (first: it quiets a bitsandbytes import-time warning)

# isort: split
from transformers import TrainingArguments

from hfrecipes.classification import ClassificationDataArguments
from hfrecipes.config import cli_main, parse_config
from hfrecipes.modeling import check_model_folder

logger = logging.getLogger("classify")
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "classify" / "default.yaml"


@dataclass
class ClassifyArguments:
    model_name_or_path: str = field(
        default="outputs/pretrain", metadata={"help": "Output folder of recipes/pretrain.py, or a Hub model id."}
    )
    padding_side: str = field(
        default="right", metadata={"choices": ["right", "left"], "help": "Pad batches on the 'right' or the 'left'."}
    )
    pooling: str = field(
        default="last",
        metadata={
            "help": "What the classification head reads: 'last' (the last non-pad token, transformers' own class; "
            "the saved model is a stock one) or 'mean' (the mean of the non-pad hidden states; the saved model "
            "carries hfrecipes/pooling.py and loads with trust_remote_code=True). See hfrecipes.pooling.",
            "choices": ["last", "mean"],
        },
    )
    dropout: float | None = field(
        default=None,
        metadata={
            "help": "Dropout inside the pretrained model while fine-tuning (GPT-2: resid/embd/attn_pdrop; Llama, "
            "Qwen2: attention_dropout). Default: the model's own."
        },
    )
    classifier_dropout: float = field(
        default=0.0, metadata={"help": "Dropout on the features the classification head reads (training only)."}
    )
    freeze_embeddings: bool = field(
        default=False,
        metadata={"help": "Keep the pretrained token (and position) embeddings fixed while fine-tuning."},
    )
    early_stopping_patience: int = field(
        default=0,
        metadata={
            "help": "Stop after this many evaluations without a better metric_for_best_model (transformers' "
            "EarlyStoppingCallback; needs eval_strategy steps or epoch). 0: off."
        },
    )
    early_stopping_threshold: float = field(
        default=0.0, metadata={"help": "How much metric_for_best_model must improve to count as better."}
    )
    max_train_minutes: float | None = field(
        default=None, metadata={"help": "Wall-clock training budget in minutes (sets max_steps); 0 is off."}
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow code from the Hub (off by default)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a finished run in output_dir."})
    baseline: bool = field(
        default=True,
        metadata={"help": "Also fit TF-IDF + logistic regression on the same rows, scored alike (see baselines.py)."},
    )

    def __post_init__(self):
        check_model_folder(self.model_name_or_path)


def check_selection(args, training_args) -> None:
    """Early stopping and best-model loading compare evaluations: without any (``eval_strategy: no``, e.g. a quick
    run over a config that selects) both are off and the last step's model is saved; say so before anything loads."""
    from hfrecipes.config import UserError

    if training_args.eval_strategy == "no":
        if args.early_stopping_patience or training_args.load_best_model_at_end:
            logger.warning("eval_strategy 'no': no early stopping and no best checkpoint; the last step is saved")
            args.early_stopping_patience = 0
            training_args.load_best_model_at_end = False
        return
    if args.early_stopping_patience and training_args.metric_for_best_model is None:
        raise UserError(
            "--early_stopping_patience needs a metric to compare: set --load_best_model_at_end true "
            "(and --metric_for_best_model, default loss)"
        )


CONFIG_CLASSES = (ClassificationDataArguments, ClassifyArguments, TrainingArguments)


def main(argv=None):
    data_args, args, training_args = parse_config(CONFIG_CLASSES, argv, DEFAULT_CONFIG)
    check_selection(args, training_args)
    from transformers import EarlyStoppingCallback, Trainer

    from hfrecipes.baselines import tfidf_baseline
    from hfrecipes.classification import (
        ClassificationCollator,
        add_classifier_dropout,
        check_task_options,
        classification_metrics,
        classifier_options,
        end_with_eos,
        freeze_embeddings,
        load_classification_datasets,
        tokenize_dataset,
        write_predictions,
    )
    from hfrecipes.modeling import load_sequence_classifier, load_tokenizer
    from hfrecipes.recipe import finish, start, train, training_results
    from hfrecipes.runs import save_run_config
    from hfrecipes.training import add_time_budget, attention_length, model_flops_per_token

    run = start(training_args, args.overwrite, args.max_train_minutes)  # seed, Hub token, locked output dir

    # --- data
    raw, task = load_classification_datasets(data_args, seed=training_args.seed)
    check_task_options(task, training_args)
    tokenizer = end_with_eos(load_tokenizer(args.model_name_or_path, args.trust_remote_code))
    tokenizer.padding_side = args.padding_side

    # --- model (before tokenizing: it caps the tokenizer's model_max_length at its context)
    model_class, overrides = classifier_options(
        args.model_name_or_path, args.pooling, args.dropout, args.trust_remote_code
    )
    model = load_sequence_classifier(
        args.model_name_or_path, tokenizer, task.label_names, args.trust_remote_code, model_class, **overrides
    )
    if args.classifier_dropout:
        add_classifier_dropout(model, args.classifier_dropout)
    if args.freeze_embeddings:
        logger.info("Embeddings frozen: %d parameters stay as pretrained", freeze_embeddings(model))
    with training_args.main_process_first(desc="tokenize"):
        encoded = tokenize_dataset(raw, tokenizer, task, data_args.max_seq_length, data_args.num_proc)

    # --- trainer
    if training_args.include_num_input_tokens_seen == "no":  # the Trainer counts the tokens for tokens/s and MFU
        training_args.include_num_input_tokens_seen = "non_padding"
    # Model selection (best checkpoint, early stopping) on the split carved from train when there is one: the
    # validation set is then scored once, at the end.
    selection = "selection" if "selection" in encoded else "validation"
    callbacks = []
    if args.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(args.early_stopping_patience, args.early_stopping_threshold))
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=encoded["train"],
        eval_dataset=encoded.get(selection),
        data_collator=ClassificationCollator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=classification_metrics(task),
        callbacks=callbacks,
    )
    if args.max_train_minutes:
        add_time_budget(trainer, args.max_train_minutes)
    save_run_config(run.out, data_args, args, training_args, recipe="classify")

    # --- train (and save the model)
    train_result = train(trainer, run)

    # --- evaluate every validation split (MNLI mismatched: eval_mismatched_accuracy), predict every test split
    metrics = {}
    if "selection" in encoded:
        metrics.update(trainer.evaluate(encoded["selection"], metric_key_prefix="selection"))
        metrics["selection_samples"] = len(encoded["selection"])
    if training_args.load_best_model_at_end:
        metrics["best_step"] = trainer.state.best_global_step  # the checkpoint loaded at the end (and saved)
    if args.early_stopping_patience:  # stopped by the callback before the planned (or budgeted) last step
        metrics["stopped_early"] = trainer.state.global_step < trainer.state.max_steps and any(
            cb.early_stopping_patience_counter >= cb.early_stopping_patience
            for cb in trainer.callback_handler.callbacks
            if isinstance(cb, EarlyStoppingCallback)
        )
    for split in sorted(s for s in encoded if s.startswith("validation")):
        prefix = "eval" + split.removeprefix("validation")
        metrics.update(trainer.evaluate(encoded[split], metric_key_prefix=prefix))
        metrics[f"{prefix}_samples"] = len(encoded[split])
    prediction_files = []
    for split in sorted(s for s in encoded if s.startswith("test")):
        test = encoded[split]
        output = trainer.predict(test, metric_key_prefix=split)
        if "label" in test.column_names:
            metrics.update(output.metrics)
        prediction_files.append(write_predictions(run.out, task, split, raw[split], output.predictions).name)

    # --- record
    tokens = trainer.state.num_input_tokens_seen  # not padding: the Trainer's count (include_num_input_tokens_seen)
    flops_per_token = model_flops_per_token(model, attention_length(encoded["train"], data_args.max_seq_length))
    results = {
        **metrics,
        "task": task.name,
        "label_names": task.label_names,
        "train_samples": len(encoded["train"]),
        **training_results(trainer, train_result, tokens, flops_per_token),
        "prediction_files": prediction_files,
    }
    if args.baseline and trainer.is_world_process_zero():  # the simple thing the model must beat, on the same rows
        results.update(tfidf_baseline(raw, task))
    shown = {k: round(v, 4) for k, v in metrics.items() if k.startswith("eval") and isinstance(v, float)}
    shown = {k: v for k, v in shown.items() if not k.endswith(("_runtime", "_per_second", "_loss"))}
    finish(
        run,
        results,
        f"Classifier saved to {run.out} ({task.name}): {shown}; see {run.out}/results.json",
        main_process=trainer.is_world_process_zero(),
        pipeline_tag="text-classification",
        metrics=["eval_loss", *shown],
        base_model=args.model_name_or_path,
        tags=["text-classification", task.name],
    )


if __name__ == "__main__":
    cli_main(main)
