"""Full vs LoRA vs QLoRA SFT on one model, CPU: peak RSS of the process tree and tokens/s (scale engines, part 2).

Builds a Llama-shaped model with random weights (8 layers x 768, GQA 12/4 heads, MLP 2048, tied embeddings, 56.6M
parameters) over an 8192-token tokenizer trained on the builtin corpus, in a temporary folder (no download). Then
fine-tunes it on builtin:python-docs chats with the same steps, batch and length in each of four runs, each its own
`accelerate launch --config_file accelerate_configs/cpu.yaml recipes/sft.py` process:

    full          every weight trained, torch AdamW (two fp32 moments per weight)
    full_adamw8   every weight trained, bitsandbytes AdamW8bit (`--optim adamw_bnb_8bit`: 8-bit moments)
    lora          LoRA rank 16 on every linear layer, base frozen in fp32
    qlora         the same LoRA on the base loaded in 4 bits (`--load_in_4bit`, NF4, double quantization)

The summed RSS of the launcher and its children is polled with psutil, as benchmarks/big_corpus.py does: its peak
over the whole run, and over training alone (from the first to the last logged step: a 4-bit load reads the full
checkpoint first, and the end evaluates, saves and generates a sample), and the anonymous part of the latter (RSS
less file-backed pages: not the libraries nor the memory-mapped checkpoint, whose frozen fp32 weights LoRA reads in
place). Tokens/s is results.json `train_tokens_per_second` (TRL's count of non-padding tokens over the Trainer's
train time). torch runs one intra-op thread by default (--threads): on cores shared with other work two spinning
OpenMP threads make speeds meaningless (see benchmarks/README.md). The weights: 227 MB in fp32; in 4 bits, 25 MB
for the linear layers (50M parameters) and 25 MB for the embedding, which stays in fp32.

    python benchmarks/sft_memory.py [--steps 8] [--batch 4] [--max_length 256] [--runs full lora qlora] [--keep]
"""

import argparse
import json
import os
import subprocess
import sys
import time

import psutil
from big_corpus import ROOT, run_measured, scratch_folder

RUNS = {
    "full": [],
    "full_adamw8": ["--optim", "adamw_bnb_8bit"],
    "lora": ["--use_peft", "--lora_r", "16", "--lora_alpha", "32"],
    "qlora": ["--use_peft", "--lora_r", "16", "--lora_alpha", "32", "--load_in_4bit", "--use_bnb_nested_quant"],
}
SHAPE = {  # a small Llama 3: GQA, SiLU MLP, RMSNorm, tied embeddings
    "hidden_size": 768,
    "num_hidden_layers": 8,
    "num_attention_heads": 12,
    "num_key_value_heads": 4,
    "intermediate_size": 2048,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": True,
}


def build_model(work, env) -> str:
    """A tokenizer (recipes/train_tokenizer.py) and a random Llama over it, saved together in ``work/model``."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok_dir, folder = work / "tokenizer", work / "model"
    cmd = [sys.executable, "recipes/train_tokenizer.py", "--vocab_size", "8192", "--output_dir", str(tok_dir)]
    run_measured(cmd, env, work / "tokenizer.log")
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **SHAPE,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return f"Llama {SHAPE['num_hidden_layers']}x{SHAPE['hidden_size']}, {model.num_parameters() / 1e6:.1f}M parameters"


def run_phases(cmd: list[str], env: dict, log, interval: float = 0.2) -> dict:
    """Runs ``cmd`` polling its process tree's summed RSS: the peak over the whole run and over training alone.

    Training is the span between the Trainer's first and last logged step loss (``--logging_steps 1``), so it holds
    the weights, gradients, optimizer state and activations, but not loading (where a 4-bit load reads the full
    checkpoint), evaluation or the final save and merge.
    """
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        root, peak, training, anonymous = psutil.Process(proc.pid), 0, 0, 0
        while proc.poll() is None:
            total = private = 0
            for p in [root, *root.children(recursive=True)]:
                try:
                    info = p.memory_info()
                except psutil.Error:  # exited between listing and reading
                    continue
                total, private = total + info.rss, private + info.rss - info.shared
            peak = max(peak, total)
            steps = log.read_text(errors="replace").count("{'loss':")
            if 1 <= steps < expected_steps(cmd):
                training, anonymous = max(training, total), max(anonymous, private)
            time.sleep(interval)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[-1]} failed ({proc.returncode}); see {log}")
    return {
        "wall_seconds": round(time.perf_counter() - start, 1),
        "peak_tree_rss_gib": round(peak / 2**30, 3),
        "training_tree_rss_gib": round(training / 2**30, 3),
        "training_tree_anonymous_gib": round(anonymous / 2**30, 3),
    }


def expected_steps(cmd: list[str]) -> int:
    return int(cmd[cmd.index("--max_steps") + 1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max_length", type=int, default=256)
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the training process.")
    parser.add_argument("--json", default=None, help="Also write the summary to this file.")
    parser.add_argument("--keep", action="store_true", help="Keep the model and the runs.")
    args = parser.parse_args()

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["OMP_NUM_THREADS"] = str(args.threads)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "accelerate_configs/cpu.yaml"]
    with scratch_folder("hfrecipes-sft-memory-", args.keep) as work:
        described = build_model(work, {**env, "HF_HOME": str(work / "hf")})
        # fmt: off
        common = ["--model_name_or_path", str(work / "model"), "--max_steps", str(args.steps),
                  "--per_device_train_batch_size", str(args.batch), "--max_length", str(args.max_length),
                  "--max_train_samples", str(args.steps * args.batch), "--max_eval_samples", "8",
                  "--per_device_eval_batch_size", "8", "--learning_rate", "2e-4", "--logging_steps", "1",
                  "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--seed", "42"]
        # fmt: on
        rows = []
        for name in args.runs:
            out = work / name
            cmd = [*launch, "recipes/sft.py", *common, *RUNS[name], "--output_dir", str(out)]
            figures = run_phases(cmd, env, work / f"{name}.log")
            r = json.loads((out / "results.json").read_text())
            rows.append(
                {
                    "run": name,
                    "peak_tree_rss_gib": figures["peak_tree_rss_gib"],
                    "training_tree_rss_gib": figures["training_tree_rss_gib"],
                    "training_tree_anonymous_gib": figures["training_tree_anonymous_gib"],
                    "train_tokens_per_second": round(r["train_tokens_per_second"]),
                    "train_runtime_s": round(r["train_runtime"], 1),
                    "wall_seconds": figures["wall_seconds"],
                    "parameters_m": round(r["num_parameters"] / 1e6, 2),
                    "trainable_m": round(r["trainable_parameters"] / 1e6, 2),
                    "eval_loss_before": round(r["eval_loss_before"], 3),
                    "eval_loss": round(r["eval_loss"], 3),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr)
    print("\n| run | peak RSS | training RSS | of it anonymous | tokens/s | parameters | trainable | eval loss |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        memory = " | ".join(f"{r[k]:.2f} GiB" for k in ("peak_tree_rss_gib", "training_tree_rss_gib"))
        print(
            f"| {r['run']} | {memory} | {r['training_tree_anonymous_gib']:.2f} GiB | {r['train_tokens_per_second']:,} "
            f"| {r['parameters_m']}M | {r['trainable_m']}M | {r['eval_loss_before']} -> {r['eval_loss']} |"
        )
    summary = {
        "model": described,
        "setup": f"{args.steps} steps x batch {args.batch}, max_length {args.max_length}, fp32, "
        f"accelerate_configs/cpu.yaml, OMP_NUM_THREADS={args.threads}",
        "runs": rows,
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": os.getloadavg(),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
