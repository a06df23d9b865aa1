"""Training-loop throughput (issue 2, figure 2): HF Trainer vs a plain PyTorch loop over the same model and data.

Shape: GPT-2 4 layers x 128, block 64, batch 12 (nanoGPT's CPU shape), packed builtin:python-docs tokens.
Runs side by side in one process, interleaved over rounds so machine noise hits every variant alike:
plain eager, Trainer eager, plain + torch.compile, Trainer + torch_compile. Reports median tokens/s over the
timed steps (after warm-up, which also absorbs compilation) and the ratios.

    python benchmarks/throughput.py [--steps 400] [--warmup 50] [--rounds 2]
"""

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from transformers import (  # noqa: E402
    DataCollatorForLanguageModeling,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    get_scheduler,
)

from hfrecipes.corpus import load_python_docs  # noqa: E402
from hfrecipes.data import iter_text_batches, pack_dataset  # noqa: E402
from hfrecipes.modeling import ModelArguments, build_gpt2  # noqa: E402
from hfrecipes.tokenization import train_bpe_tokenizer  # noqa: E402

SHAPE = dict(n_layer=4, n_head=4, n_embd=128, block_size=64)
BATCH = 12


def make_args(out, steps, compile_):
    return TrainingArguments(
        output_dir=out,
        max_steps=steps,
        per_device_train_batch_size=BATCH,
        learning_rate=1e-3,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        logging_steps=10**6,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        torch_compile=compile_,
        seed=0,
        dataloader_pin_memory=False,
    )


class StepTimer(TrainerCallback):
    def __init__(self, warmup):
        self.warmup, self.t0, self.t1, self.n = warmup, None, None, 0

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.warmup:
            self.t0 = time.perf_counter()
        elif state.global_step > self.warmup:
            self.t1, self.n = time.perf_counter(), state.global_step - self.warmup


def run_trainer(tokenizer, data, steps, warmup, compile_):
    torch.manual_seed(0)
    model = build_gpt2(ModelArguments(**SHAPE), tokenizer)
    timer = StepTimer(warmup)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(
            model=model,
            args=make_args(out, steps, compile_),
            train_dataset=data,
            data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
            callbacks=[timer],
        )
        trainer.train()
    return timer.n * BATCH * SHAPE["block_size"] / (timer.t1 - timer.t0)


def run_plain(tokenizer, data, steps, warmup, compile_):
    torch.manual_seed(0)
    model = build_gpt2(ModelArguments(**SHAPE), tokenizer)
    args = make_args("unused", steps, compile_)
    optim_cls, optim_kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)  # the Trainer's own optimizer
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = optim_cls(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        **optim_kwargs,
    )
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=steps)
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=BATCH,
        shuffle=True,
        drop_last=True,
        collate_fn=DataCollatorForLanguageModeling(tokenizer, mlm=False),
    )
    step_model = torch.compile(model) if compile_ else model
    model.train()
    step, t0 = 0, None
    while step < steps:
        for batch in loader:
            loss = step_model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step == warmup:
                t0 = time.perf_counter()
            if step >= steps:
                break
    return (steps - warmup) * BATCH * SHAPE["block_size"] / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()

    corpus = load_python_docs()
    tokenizer = train_bpe_tokenizer(iter_text_batches(corpus["train"]), vocab_size=4096)
    data = pack_dataset(corpus["train"], tokenizer, SHAPE["block_size"]).with_format("torch")

    variants = {"plain_eager": (run_plain, False), "trainer_eager": (run_trainer, False)}
    if not args.no_compile:
        variants |= {"plain_compile": (run_plain, True), "trainer_compile": (run_trainer, True)}
    rates = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, (fn, compile_) in variants.items():
            rates[name].append(fn(tokenizer, data, args.steps + args.warmup, args.warmup, compile_))
            print(f"round {r} {name}: {rates[name][-1]:,.0f} tokens/s", flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    report = {
        "shape": SHAPE,
        "batch": BATCH,
        "timed_steps": args.steps,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "tokens_per_second": {k: round(v) for k, v in med.items()},
        "trainer_overhead_eager": round(1 - med["trainer_eager"] / med["plain_eager"], 4),
    }
    if not args.no_compile:
        report["trainer_overhead_compile"] = round(1 - med["trainer_compile"] / med["plain_compile"], 4)
        report["compile_speedup_trainer"] = round(med["trainer_compile"] / med["trainer_eager"], 3)
        report["compile_speedup_plain"] = round(med["plain_compile"] / med["plain_eager"], 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
