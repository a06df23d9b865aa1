"""Supervised fine-tuning (SFT) with TRL's SFTTrainer: chat data, loss on the assistant turns, optional LoRA/QLoRA.

    hfrecipes launch recipes/sft.py              # builtin:python-docs questions on outputs/pretrain, ~1-2 min on CPU
    hfrecipes launch recipes/sft.py --config recipes/configs/sft/alpaca.yaml --train_file alpaca_en_demo.json
    hfrecipes launch recipes/sft.py --config recipes/configs/sft/lora.yaml --merge_adapter
    hfrecipes generate --model_name_or_path outputs/sft --prompt 'What does the function `json.dumps` do?'

Starts from a model folder (recipes/pretrain.py, `make demo`) or a Hub id. Data: `messages`, `prompt`/`completion` or
Alpaca `instruction`/`input`/`output` (JSON/JSONL/CSV/Parquet files or a Hub id), rendered with the tokenizer's chat
template (or --chat_template_path). Writes the model (or the LoRA adapter), tokenizer, trainer_state.json,
run_config.yaml, run_info.json, results.json (eval_loss and perplexity before and after, tokens/s, a sample answer)
and the model card (README.md); --push_to_hub [--hub_model_id ID] uploads them at the end (token: HF_TOKEN).
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import hfrecipes  # noqa: F401  (first: it quiets a bitsandbytes import-time warning)

# isort: split
from trl import SFTConfig

from hfrecipes.config import cli_main, parse_config
from hfrecipes.data import DataArguments
from hfrecipes.modeling import PretrainedModelArguments

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "sft" / "default.yaml"
logger = logging.getLogger("sft")


@dataclass
class SFTArguments:
    sample_prompt: str | None = field(
        default=None, metadata={"help": "Question for the sample answer (default: the first validation question)."}
    )
    overwrite: bool = field(default=False, metadata={"help": "Replace a finished run in output_dir."})


CONFIG_CLASSES = (DataArguments, PretrainedModelArguments, SFTArguments, SFTConfig)


def main(argv=None):
    data_args, model_args, run_args, training_args = parse_config(CONFIG_CLASSES, argv, DEFAULT_CONFIG)
    from transformers import set_seed
    from trl import SFTTrainer, get_peft_config

    from hfrecipes.chat import check_chat_template, prepare_chat_training, python_docs_chat, to_messages
    from hfrecipes.config import UserError
    from hfrecipes.data import load_datasets, mixture_results
    from hfrecipes.generation import chat_reply
    from hfrecipes.modeling import (
        check_vocab,
        context_length,
        load_causal_lm,
        load_tokenizer,
        merge_lora,
        parameter_counts,
        quantization_name,
        saved_modules_in_model_dtype,
    )
    from hfrecipes.recipe import finish, start, training_results
    from hfrecipes.runs import save_run_config, staged_save
    from hfrecipes.training import attention_length, model_flops_per_token, perplexity

    run = start(training_args, run_args.overwrite)  # seed, Hub token, locked output dir (an unfinished run resumes)

    # --- data: every format becomes `messages`, rendered by the chat template
    name = model_args.model_name_or_path
    tokenizer = load_tokenizer(name, training_args.trust_remote_code, model_args.model_revision, add_pad=False)
    check_chat_template(tokenizer, name, training_args.chat_template_path)
    raw = load_datasets(data_args, training_args.seed, prepare=to_messages, builtin=python_docs_chat)

    # --- model
    check_vocab(name, tokenizer, training_args.trust_remote_code)
    model = load_causal_lm(model_args, training_args.trust_remote_code, tokenizer)
    if training_args.max_length is None or training_args.max_length > context_length(model):
        logger.warning("max_length capped to the model's context, %d", context_length(model))
        training_args.max_length = context_length(model)

    logger.info("Process %d of %d (%s)", training_args.process_index, training_args.world_size, training_args.device)
    # --- trainer: labels are -100 outside the assistant turns with assistant_only_loss (our configs set it)
    # The loss before training is evaluated inside train() (eval_on_start): an evaluate() before train() marks the
    # model prepared for accelerate, which then skips the DDP wrap, and each process would train on its own.
    training_args.eval_on_start = "validation" in raw
    # The model's own chat template and end-of-turn EOS; ChatML for a base model without one (see the README)
    peft_config = get_peft_config(model_args)
    model, data = prepare_chat_training(model, tokenizer, training_args, raw, name, peft_config)
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=data["train"],
        eval_dataset=data.get("validation"),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    if model_args.load_in_4bit or model_args.load_in_8bit:
        saved_modules_in_model_dtype(trainer.model)
    if hasattr(trainer.train_dataset, "__len__") and len(trainer.train_dataset) == 0:
        raise UserError(f"no training chat fits max_length {training_args.max_length}; raise --max_length")
    save_run_config(run.out, data_args, model_args, run_args, training_args, recipe="sft", chat=True)  # what it makes

    # --- train and evaluate
    train_result = trainer.train(resume_from_checkpoint=run.resume)
    mixture = mixture_results(raw)  # rows per source of a dataset_mixture (a stream's: before anything reads it again)
    length = attention_length(trainer.train_dataset, training_args.max_length)  # T of 6N + 12LHQT
    flops_per_token = model_flops_per_token(trainer.model, length)
    before = next((h for h in trainer.state.log_history if h.get("step") == 0 and "eval_loss" in h), {})
    metrics = trainer.evaluate() if "validation" in raw else {}
    trainable, total = parameter_counts(trainer.model)  # a 4-bit weight at its real size, not its packed bytes
    # A sample answer, by every rank in step (an FSDP model generates collectively) and before rank 0 merges LoRA
    chat = next(iter(raw["validation"]))["messages"] if "validation" in raw else [{"role": "user", "content": "Hi!"}]
    question = run_args.sample_prompt or next(m["content"] for m in chat if m["role"] == "user")
    set_seed(training_args.seed)
    sample = chat_reply(trainer.model, tokenizer, [{"role": "user", "content": question}], max_new_tokens=60)

    # --- save: the full model, the LoRA adapter alone, or (merge_adapter) both; QLoRA merges into an unquantized copy
    model = trainer.model
    with staged_save(run.out) as staging:  # a crash mid-save never leaves a half-written model in place
        if model_args.merge_adapter:
            trainer.save_model(str(staging / "adapter"))
            if trainer.is_world_process_zero():
                model = merge_lora(model, staging / "adapter", model_args, training_args.trust_remote_code)
                model.save_pretrained(staging)
                tokenizer.save_pretrained(staging)
        else:
            trainer.save_model(str(staging))
    trainer.save_state()

    # --- record
    tokens = trainer._total_train_tokens  # TRL's count of the non-padding tokens trained on (logged as num_tokens)
    results = {
        **metrics,
        "perplexity": perplexity(metrics.get("eval_loss")),
        "eval_loss_before": before.get("eval_loss"),
        "perplexity_before": perplexity(before.get("eval_loss")),
        **training_results(trainer, train_result, tokens, flops_per_token),
        "num_parameters": total,  # counted before a merge_adapter took the LoRA weights out of trainer.model
        "quantization": quantization_name(model_args),
        "trainable_parameters": trainable,
        "trainable_share": trainable / total,
        "sample_prompt": question,
        "sample": sample,
        **mixture,
    }
    finish(
        run,
        results,
        f"Saved to {run.out}: eval_loss {before.get('eval_loss')} -> {metrics.get('eval_loss')}; see results.json",
        main_process=trainer.is_world_process_zero(),
        pipeline_tag="text-generation",
        metrics=["eval_loss", "perplexity", "eval_loss_before"],
        base_model=model_args.model_name_or_path,
        tags=["trl", "sft", *(["lora"] if model_args.use_peft else [])],
    )


if __name__ == "__main__":
    cli_main(main)
