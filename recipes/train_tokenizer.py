"""Train a byte-level BPE tokenizer (GPT-2 style) with the `tokenizers` library.

    hfrecipes launch recipes/train_tokenizer.py                 # builtin:python-docs, offline
    hfrecipes launch recipes/train_tokenizer.py --config recipes/configs/train_tokenizer/shakespeare.yaml
    python recipes/train_tokenizer.py --train_file my/*.txt --vocab_size 8192 --output_dir outputs/my-tok

Writes a `PreTrainedTokenizerFast` (AutoTokenizer.from_pretrained(output_dir) loads it) with `<|endoftext|>`
as BOS/EOS, a separate `<|pad|>`, ChatML turn tokens and a chat template, plus results.json (bytes_per_token) and a
card (README.md); --push_to_hub [--hub_model_id ID] [--hub_private_repo] uploads them (token: HF_TOKEN).
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

from hfrecipes.config import cli_main, parse_config
from hfrecipes.data import DataArguments, iter_text_batches, load_text_datasets
from hfrecipes.hub import HubArguments, hub_target
from hfrecipes.recipe import Run, finish
from hfrecipes.runs import claim_output_dir, is_main_process, save_run_config, staged_save
from hfrecipes.tokenization import min_vocab_size

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "train_tokenizer" / "default.yaml"


@dataclass
class TokenizerArguments:
    output_dir: str = field(default="outputs/tokenizer", metadata={"help": "Where the tokenizer is saved."})
    vocab_size: int = field(default=4096, metadata={"help": "Target vocabulary size, special tokens included."})
    min_frequency: int = field(default=2, metadata={"help": "Minimum pair frequency for a merge."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a finished run in output_dir."})

    def __post_init__(self):
        if self.vocab_size < min_vocab_size():
            raise ValueError(
                f"vocab_size {self.vocab_size} is below the byte alphabet plus special tokens; "
                f"use >= {min_vocab_size()}"
            )


CONFIG_CLASSES = (DataArguments, TokenizerArguments, HubArguments)


def main(argv=None):
    data_args, args, hub_args = parse_config(CONFIG_CLASSES, argv, DEFAULT_CONFIG)
    if not is_main_process():  # tokenizer training is single-process; other ranks have nothing to do
        return
    hub = hub_target(hub_args, args.output_dir)
    out = claim_output_dir(args.output_dir, args.overwrite)

    # --- data
    raw = load_text_datasets(data_args)
    train, column = raw["train"], data_args.text_column
    n_batches = None if data_args.streaming else -(-len(train) // data_args.preprocessing_batch_size)

    # --- train
    from hfrecipes.tokenization import bytes_per_token, train_bpe_tokenizer

    start = time.perf_counter()
    batches = iter_text_batches(train, column, data_args.preprocessing_batch_size)
    tokenizer = train_bpe_tokenizer(batches, args.vocab_size, args.min_frequency, length=n_batches)
    train_seconds = time.perf_counter() - start

    # --- save and measure
    save_run_config(out, data_args, args, hub_args, recipe="train_tokenizer")
    with staged_save(out) as staging:
        tokenizer.save_pretrained(staging)
    val_texts = (
        [t for batch in iter_text_batches(raw["validation"], column) for t in batch] if "validation" in raw else []
    )
    results = {
        "vocab_size": len(tokenizer),
        "train_seconds": round(train_seconds, 3),
        "bytes_per_token": bytes_per_token(tokenizer, val_texts) if val_texts else None,
        "validation_bytes": sum(len(t.encode("utf-8")) for t in val_texts),
        "special_tokens": tokenizer.all_special_tokens,
    }
    summary = f"Tokenizer saved to {out} ({len(tokenizer)} tokens, {results['bytes_per_token'] or 0:.2f} bytes/token)"
    finish(Run(out, hub=hub), results, summary)  # results.json, the card, the push


if __name__ == "__main__":
    cli_main(main)
