"""Tokenize and pack a corpus once, to disk, for multi-epoch pretraining on corpora bigger than memory.

    python recipes/pretokenize.py                                # builtin:python-docs, outputs/tokenizer, block 128
    python recipes/pretokenize.py --train_file "corpus/*.txt" --tokenizer_name outputs/my-tok --block_size 256 \
        --num_proc 8 --output_dir outputs/my-corpus-256
    hfrecipes launch recipes/pretrain.py --dataset_name outputs/my-corpus-256 --tokenizer_name outputs/my-tok \
        --block_size 256 --num_train_epochs 3

Loads text through `hfrecipes.data` (builtin corpus, local files or a Hub dataset), tokenizes it with a batched,
cached `datasets.map` over `--num_proc` processes, packs it into `block_size` blocks with EOS after each document
(memory stays flat), and writes the `train` and `validation` blocks with `save_to_disk` into output_dir, with
results.json (blocks, tokens, text MB/s), run_config.yaml and run_info.json. pretrain.py memory-maps the folder and
skips tokenization; it refuses another block size or tokenizer.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

from hfrecipes.config import UserError, cli_main, parse_config
from hfrecipes.data import DataArguments
from hfrecipes.runs import claim_output_dir, is_main_process, save_run_config, staged_save, write_results

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "pretokenize" / "default.yaml"


@dataclass
class PretokenizeArguments:
    tokenizer_name: str = field(
        default="outputs/tokenizer", metadata={"help": "Tokenizer folder (from train_tokenizer.py) or Hub id."}
    )
    block_size: int = field(default=128, metadata={"help": "Tokens per block; pretrain.py needs the same."})
    output_dir: str = field(default="outputs/pretokenized", metadata={"help": "Where the packed splits go."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a finished run in output_dir."})


CONFIG_CLASSES = (DataArguments, PretokenizeArguments)


def main(argv=None):
    data_args, args = parse_config(CONFIG_CLASSES, argv, DEFAULT_CONFIG)
    if data_args.streaming:
        raise UserError("pretokenize.py writes every block to disk; drop --streaming (files are memory-mapped)")
    if not is_main_process():  # one writer; the parallelism is --num_proc
        return
    out = claim_output_dir(args.output_dir, args.overwrite)
    from datasets import DatasetDict

    from hfrecipes.data import load_text_datasets, pack_dataset, text_bytes
    from hfrecipes.modeling import load_tokenizer

    # --- data
    tokenizer = load_tokenizer(args.tokenizer_name)
    raw = load_text_datasets(data_args)
    n_bytes = {split: text_bytes(ds, data_args.text_column) for split, ds in raw.items()}

    # --- tokenize and pack
    start = time.perf_counter()
    packed = DatasetDict(
        {
            split: pack_dataset(
                ds,
                tokenizer,
                args.block_size,
                data_args.text_column,
                data_args.num_proc,
                data_args.preprocessing_batch_size,
            )
            for split, ds in raw.items()
        }
    )
    seconds = time.perf_counter() - start

    # --- save
    save_run_config(out, data_args, args, recipe="pretokenize")
    with staged_save(out) as staging:  # each split folder replaces the old one whole: no stale shards
        packed.save_to_disk(str(staging), num_proc=data_args.num_proc)
    total_bytes = sum(n_bytes.values())
    results = {
        **{f"{split}_blocks": len(ds) for split, ds in packed.items()},
        **{f"{split}_tokens": len(ds) * args.block_size for split, ds in packed.items()},
        "text_bytes": total_bytes,
        "tokenize_and_pack_seconds": round(seconds, 3),
        "text_mb_per_second": total_bytes / 1e6 / seconds if seconds else None,
        "num_proc": data_args.num_proc,
        "block_size": args.block_size,
        "vocab_size": len(tokenizer),
    }
    write_results(out, results)
    print(
        f"{results['train_blocks']} train blocks of {args.block_size} tokens saved to {out} "
        f"({results['text_mb_per_second']:.1f} MB of text/s); pretrain with --dataset_name {out}"
    )


if __name__ == "__main__":
    cli_main(main)
