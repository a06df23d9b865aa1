"""Trainer add-ons shared by recipes: a wall-clock training budget, language-model evaluation, the precision rule
and the throughput figures (model FLOPs per token, MFU)."""

from __future__ import annotations

import logging
import math
import os
import re
import time

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from .errors import UserError

logger = logging.getLogger(__name__)

UNBOUNDED_STEPS = 10**9  # placeholder max_steps until the budget fixes the real one


class TimeBudget(TrainerCallback, ExportableState):
    """Fits training into ``minutes`` of wall time, on a machine whose speed may change during the run.

    After ``skip_steps`` warm-up steps (compilation, allocator) it times ``timing_steps`` steps and fixes a first
    total number of steps, so a warm-up given as a ratio starts at once. Then it re-times every ``recheck`` of the
    budget and, when the speed changed, re-targets the total so training still ends at the end of the budget. Each
    time the LR schedule (same type and warm-up rule as the Trainer's) is rebuilt over the new total, so it decays
    to the end of the budget. If the machine slows down so much that the run passes ``overrun`` x the budget, it
    stops there.
    Rank 0 decides, every ``timing_steps`` steps, and broadcasts, so every process stops at the same step. The
    total is saved in checkpoints: a resumed run keeps it (its wall clock restarts, so it does not re-time).
    ``clock`` (seconds, monotonic) is read once at the start and once per step; tests replace it with a simulated one.
    """

    clock = staticmethod(time.perf_counter)

    def __init__(
        self,
        minutes: float,
        skip_steps: int = 3,
        timing_steps: int = 10,
        progress=None,
        overrun=1.1,
        recheck=0.1,
        decay_ratio: float | None = None,
    ):
        self.minutes = minutes
        self.decay_ratio = decay_ratio  # warmup_stable_decay: the decay phase's share of the (budgeted) steps
        self.overrun = overrun
        self.recheck = recheck
        self.skip_steps = skip_steps
        self.timing_steps = timing_steps
        self.total_steps: int | None = None
        self.seconds_per_step: float | None = None
        self._progress = progress
        self._scheduler = None
        self._cap = None
        self._mark: tuple[int, float] | None = None  # (step, time) where the current timing window started
        self._resumed = False

    def state(self) -> dict:
        return {"args": {"minutes": self.minutes}, "attributes": {"total_steps": self.total_steps}}

    def on_train_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        if not hasattr(lr_scheduler, "lr_lambdas"):
            raise ValueError(f"max_train_minutes needs a LambdaLR schedule; '{args.lr_scheduler_type}' is not one")
        self._scheduler = lr_scheduler
        self._cap = args.max_steps if 0 < args.max_steps < UNBOUNDED_STEPS else None
        self._t0 = self.clock()
        saved = (state.stateful_callbacks or {}).get(type(self).__name__)
        if isinstance(saved, dict) and saved.get("attributes", {}).get("total_steps"):
            self._resumed = True
            self._fix(args, state, saved["attributes"]["total_steps"])  # resumed: keep the original schedule

    def on_step_end(self, args, state, control, **kwargs):
        step, now = state.global_step, self.clock()
        if step == self.skip_steps and not self._resumed:
            self._mark = (step, now)
        if step > self.skip_steps and (step - self.skip_steps) % self.timing_steps == 0:
            total, stop = _broadcast(self._propose(step, now))
            if total and total != self.total_steps:
                self._fix(args, state, total)
            if stop:
                logger.warning("Time budget overrun: stopping at step %d of %s", step, self.total_steps)
                control.should_training_stop = True
        if self.total_steps is not None and step >= self.total_steps:
            control.should_training_stop = True
        return control

    def _propose(self, step: int, now: float) -> tuple[int, int]:
        """This process's view (rank 0's is used): a new total number of steps (0: keep it) and whether to stop."""
        budget, elapsed = self.minutes * 60, now - self._t0
        if elapsed > self.overrun * budget:  # much slower than timed (e.g. shared cores): the budget wins
            return 0, 1
        if self._mark is None:  # resumed: the total comes from the checkpoint
            return 0, 0
        mark_step, mark_time = self._mark
        if self.total_steps is not None and now - mark_time < self.recheck * budget:
            # Between re-timings, only a plan that would end early is re-targeted at once: a machine that sped up
            # (the first window timed a slow start) would otherwise reach the old total long before the budget ends.
            pace = (now - mark_time) / (step - mark_step)
            if elapsed + (self.total_steps - step) * pace >= 0.95 * budget:
                return 0, 0
        self.seconds_per_step = (now - mark_time) / (step - mark_step)
        self._mark = (step, now)
        total = step + max(0, math.floor((budget - elapsed) / self.seconds_per_step))
        if self.total_steps is not None and abs(total - self.total_steps) <= 0.01 * self.total_steps:
            return 0, 0  # within 1%: keep the schedule steady
        return total, 0

    def _fix(self, args, state, total: int) -> None:
        from .optim import rebuild_schedule

        total = min(total, self._cap) if self._cap else total
        self.total_steps = max(total, state.global_step, 1)
        state.max_steps = self.total_steps
        state.compute_steps(args, self.total_steps)  # ratio-valued logging/eval/save steps: of the budgeted total
        # Same schedule type and warmup rule as the Trainer's, over the budgeted number of steps.
        rebuild_schedule(args, self._scheduler, self.total_steps, self.decay_ratio)
        if self._progress is not None and getattr(self._progress, "training_bar", None) is not None:
            self._progress.training_bar.total = self.total_steps
            self._progress.training_bar.refresh()
        logger.info(
            "Time budget %.1f min: %s s/step at step %d -> %d steps in total",
            self.minutes,
            f"{self.seconds_per_step:.3f}" if self.seconds_per_step else "?",
            state.global_step,
            self.total_steps,
        )


def _broadcast(value):
    """Rank 0's ``value`` on every process (as is without torch.distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]
    return value


def add_time_budget(trainer, minutes: float, decay_ratio: float | None = None) -> TimeBudget:
    """Attaches a ``TimeBudget`` to a Trainer whose ``args.max_steps`` was set before construction."""
    from transformers.trainer_callback import ProgressCallback

    progress = next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, ProgressCallback)), None)
    budget = TimeBudget(minutes, progress=progress, decay_ratio=decay_ratio)
    trainer.add_callback(budget)
    return budget


def fix_budget_speed_metrics(trainer, train_result) -> None:
    """The Trainer computes samples/s from the placeholder max_steps; recompute them from the steps really run
    (``transformers.trainer_utils.speed_metrics`` over the run's own runtime)."""
    from transformers.trainer_utils import speed_metrics

    args, state = trainer.args, trainer.state
    runtime = train_result.metrics.get("train_runtime") or 0.0
    samples = state.global_step * args.train_batch_size * args.gradient_accumulation_steps * args.world_size
    fixed = {"train_steps_per_second": None, "train_samples_per_second": None}
    if runtime:
        fixed = speed_metrics("train", time.time() - runtime, num_samples=samples, num_steps=state.global_step)
        fixed.pop("train_runtime")  # the Trainer's own, kept as it measured it
    train_result.metrics.update(fixed)
    for entry in state.log_history:
        if "train_runtime" in entry:
            entry.update(fixed)


def language_model_scores(nll_sum, num_tokens, num_bytes) -> dict[str, float]:
    """Token-weighted ``loss`` (mean NLL per token, nats), ``perplexity`` and ``bits_per_byte`` (total NLL over
    ln 2 x the UTF-8 bytes the tokens stand for: the figure that compares models with different tokenizers), from
    per-sequence sums."""
    total_nll, tokens, n_bytes = math.fsum(nll_sum), sum(num_tokens), sum(num_bytes)
    loss = total_nll / tokens if tokens else float("nan")
    return {
        "loss": loss,
        "perplexity": math.exp(loss) if loss < 700 else float("inf"),  # a diverged run: inf, not an OverflowError
        "bits_per_byte": total_nll / (math.log(2) * n_bytes) if n_bytes else float("nan"),
    }


def language_model_metrics(tokenizer):
    """``(preprocess_logits_for_metrics, compute_metrics)`` giving perplexity and bits per byte.

    Logits are reduced to per-sequence sums inside the eval loop, so memory does not grow with the vocab.
    """
    import torch
    import torch.nn.functional as F

    from .tokenization import token_byte_lengths

    byte_lengths = torch.as_tensor(token_byte_lengths(tokenizer))

    def preprocess_logits_for_metrics(logits, labels):
        if isinstance(logits, tuple):
            logits = logits[0]
        logits, labels = logits[:, :-1].float(), labels[:, 1:]
        mask = labels != -100
        safe = labels.clamp(min=0)
        nll = F.cross_entropy(logits.transpose(1, 2), safe, reduction="none") * mask
        n_bytes = (byte_lengths.to(labels.device)[safe] * mask).sum(1)
        return torch.stack([nll.sum(1), mask.sum(1).float(), n_bytes.float()], dim=1)

    def compute_metrics(eval_pred):
        sums = eval_pred.predictions
        out = language_model_scores(sums[:, 0].tolist(), sums[:, 1].astype("int64"), sums[:, 2].astype("int64"))
        return {"perplexity": out["perplexity"], "bits_per_byte": out["bits_per_byte"]}

    return preprocess_logits_for_metrics, compute_metrics


def generate_sample(model, tokenizer, prompt: str, max_new_tokens: int = 60, seed: int = 0) -> str:
    """A short sampled continuation (prompt included), for results.json and reports."""
    import torch

    from .generation import generate_ids

    torch.manual_seed(seed)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    prompt_ids, new_ids = generate_ids(model, tokenizer, ids, max_new_tokens, temperature=0.8, top_k=50)
    return tokenizer.decode(prompt_ids + new_ids, skip_special_tokens=True)


def perplexity(loss: float | None) -> float | None:
    """exp(loss), inf instead of an overflow."""
    if loss is None:
        return None
    return math.exp(loss) if loss < 700 else float("inf")


def eager_random_on_cpu(args) -> None:
    """With ``torch_compile`` on the CPU, compiled graphs draw their random numbers (dropout's masks) with eager
    PyTorch's kernels (inductor's ``fallback_random``) rather than the per-element generator inductor writes into its
    C++ loops. A step of the 4x128 GPT-2 (bf16, batch 32 x 128, vocab 8192, 2 cores) with dropout 0.1 took 1.77x the
    time of one without; with eager's kernels 1.55x (1.05x with ``attention_dropout: 0``, against 1.22x). On a GPU
    inductor's generator is the fast one, and it is left alone."""
    if args.torch_compile and args.device.type == "cpu":
        import torch._inductor.config

        torch._inductor.config.fallback_random = True


# --- precision: one rule for every launcher


def check_precision(args) -> None:
    """The recipe's ``bf16``/``fp16`` decide the precision, under every launcher; a launcher that says otherwise stops.

    transformers takes the recipe's bf16/fp16 when one is true and else the accelerate config's ``mixed_precision``
    (``accelerate launch`` exports it as ACCELERATE_MIXED_PRECISION), while DeepSpeed's ``"auto"`` follows the recipe
    alone: without a rule one YAML trains in bf16 under DDP and in fp32 under DeepSpeed. Our accelerate configs say
    ``mixed_precision: "no"``; a config or ``--mixed_precision`` flag asking for another precision than the recipe's
    is a one-line error naming both, before anything loads.
    """
    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower()
    recipe = "bf16" if args.bf16 else "fp16" if args.fp16 else "no"
    if launcher not in ("no", recipe):
        trains = f"trains in {recipe} ({recipe}: true)" if recipe != "no" else "trains in fp32 (bf16 and fp16 false)"
        fix = f"pass --{launcher} true or " if launcher in ("bf16", "fp16") else ""
        raise UserError(
            f"the accelerate config sets mixed_precision '{launcher}' but the recipe's config {trains}; precision "
            f'comes from the recipe: {fix}set mixed_precision: "no" in the accelerate config'
        )


def training_precision(args, model=None) -> str:
    """``bf16``/``fp16`` (autocast, or weights loaded in that dtype, e.g. QLoRA's compute dtype) or ``fp32``."""
    import torch

    if args.bf16:
        return "bf16"
    if args.fp16:
        return "fp16"
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(getattr(model, "dtype", None), "fp32")


# --- throughput: model FLOPs per token and model-FLOPs utilisation (MFU)

# Dense peak FLOP/s of one device with 16-bit inputs and fp32 accumulation (datasheets headline the figure "with
# sparsity", twice this). Matched on the words of torch.cuda.get_device_name() ("NVIDIA H100 80GB HBM3" is the SXM
# part), first match first, so the specific names come before the general ones. fp16 alone where the GPU has no bf16
# tensor cores; fp32 training has no entry (its peak depends on TF32), so its MFU is None.
PEAK_FLOPS = (
    (("B200",), 2250e12),  # NVIDIA HGX B200 datasheet: FP16/BF16 4.5 PFLOPS per GPU with sparsity (torchtitan: same)
    (("GH200",), 989e12),  # NVIDIA GH200 datasheet: BF16 1,979 TFLOPS with sparsity (the H100 SXM figure)
    (("H200", "NVL"), 835e12),  # NVIDIA H200 datasheet: H200 NVL BF16 1,671 TFLOPS with sparsity
    (("H200",), 989e12),  # NVIDIA H200 datasheet: H200 SXM BF16 1,979 TFLOPS with sparsity
    (("H100", "NVL"), 835e12),  # NVIDIA H100 datasheet: H100 NVL BF16 1,671 TFLOPS with sparsity
    (("H100", "PCIE"), 756e12),  # NVIDIA H100 datasheet: H100 PCIe BF16 1,513 TFLOPS with sparsity
    (("H100",), 989e12),  # NVIDIA H100 datasheet: H100 SXM BF16 1,979 TFLOPS with sparsity (nanoGPT/torchtitan: 989)
    (("A100",), 312e12),  # NVIDIA A100 datasheet: BF16 312 TFLOPS (624 with sparsity), SXM and PCIe alike
    (("L40S",), 362e12),  # NVIDIA L40S datasheet: BF16 362.05 TFLOPS (733 with sparsity)
    (("L40",), 181e12),  # NVIDIA L40 datasheet: BF16 181.05 TFLOPS (362.1 with sparsity)
    (("L4",), 121e12),  # NVIDIA L4 datasheet: BF16 242 TFLOPS with sparsity
    (("A10G",), 70e12),  # AWS's variant, no NVIDIA datasheet: BF16 70 TFLOPS in Baseten's "A10 vs A10G" spec table
    (("A10",), 125e12),  # NVIDIA A10 datasheet: BF16 125 TFLOPS (250 with sparsity)
    (("A40",), 149.7e12),  # NVIDIA A40 datasheet: BF16 with FP32 accumulate 149.7 TFLOPS (299.4 with sparsity)
    (("RTX", "A6000"), 154.8e12),  # NVIDIA RTX A6000 datasheet: tensor 309.7 TFLOPS with sparsity
    (("RTX", "4090"), 165.2e12),  # NVIDIA Ada Lovelace whitepaper: FP16/BF16, FP32 accumulate 165.2 (330.3 sparse)
    (("RTX", "3090"), 71e12),  # NVIDIA Ampere GA102 whitepaper: FP16/BF16, FP32 accumulate 71 (142 sparse)
    (("T4",), {"fp16": 65e12}),  # NVIDIA T4 datasheet: mixed precision FP16/FP32 65 TFLOPS; no bf16
    (("V100", "PCIE"), {"fp16": 112e12}),  # NVIDIA V100 datasheet: PCIe tensor 112 TFLOPS; no bf16
    (("V100",), {"fp16": 125e12}),  # NVIDIA V100 datasheet: SXM2 tensor 125 TFLOPS; no bf16
    (("MI300X",), 1307.4e12),  # AMD Instinct MI300X datasheet: BF16 1,307.4 TFLOPS dense
)


def device_name(device) -> str:
    """What the peak table matches: the GPU's name for a CUDA (or ROCm) device, else the device type ("cpu")."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    return device.type


def peak_flops(device: str, precision: str) -> float | None:
    """Dense peak FLOP/s of one ``device`` (a name, see ``device_name``) in ``precision`` ("bf16", "fp16").

    None for the CPU, fp32, or a device not in ``PEAK_FLOPS``: MFU is then not computed (achieved FLOP/s still are).
    """
    words = set(re.split(r"[^A-Z0-9]+", device.upper()))
    for key, peak in PEAK_FLOPS:
        if set(key) <= words:
            peaks = peak if isinstance(peak, dict) else {"bf16": peak, "fp16": peak}
            return peaks.get(precision)
    return None


def model_flops_per_token(model, seq_len: float) -> int:
    """Training FLOPs per token, 6N + 12·L·H·Q·T: PaLM's appendix B, as nanoGPT's ``estimate_mfu`` and torchtitan.

    N counts the weights each token is multiplied by: every parameter but the embedding tables, except a table that is
    also the output layer (GPT-2's tied ``wte`` counts, its ``wpe`` does not: nanoGPT's non-embedding count; an untied
    input embedding does not: torchtitan's). L, H, Q are layers, attention heads and head size; T (``seq_len``) the
    length each token attends over (the causal mask not discounted, by convention). A frozen weight (LoRA's base
    model) gets no weight gradient: 4 FLOPs per token instead of 6, so with every weight trainable this is exactly
    nanoGPT's formula. Recomputation (activation checkpointing) is not counted: these are model FLOPs.
    """
    import torch

    from .modeling import parameter_numel

    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head = getattr(output, "weight", None)
    tables = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding) and m.weight is not head}
    trainable = frozen = 0
    for name, param in model.named_parameters():
        if id(param) in tables or ".original_module." in name:  # peft keeps the replaced module beside its copy
            continue
        if param.requires_grad:
            trainable += parameter_numel(param)
        else:
            frozen += parameter_numel(param)
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return int(6 * trainable + 4 * frozen + 12 * layers * heads * head_dim * seq_len)


def attention_length(dataset, default: float, column: str = "input_ids", rows: int = 1000) -> float:
    """T for ``model_flops_per_token`` over examples of varied length: sum(l²) / sum(l) over the first ``rows``.

    The attention cost of a token grows with its sequence's length, so the mean is weighted by tokens; ``default``
    (e.g. max_length) where the dataset has no ``column`` or no rows.
    """
    import itertools

    if dataset is None or column not in (dataset.column_names or []):
        return default
    if hasattr(dataset, "__len__"):
        sequences = dataset.select(range(min(rows, len(dataset))))[column]
    else:
        sequences = [row[column] for row in itertools.islice(dataset, rows)]
    lengths = [len(s) for s in sequences]
    return sum(n * n for n in lengths) / sum(lengths) if sum(lengths) else default


def throughput_metrics(flops_per_token: int, tokens: int | None, runtime: float, args, model=None) -> dict:
    """results.json's speed figures (``speed_metrics`` names): tokens/s over all processes, model FLOPs per token,
    achieved TFLOP/s per device and MFU, that over the device's dense peak (None where no peak is known: CPU, fp32,
    a GPU missing from ``PEAK_FLOPS``). ``runtime`` is the Trainer's ``train_runtime`` (start-up of the loop,
    compilation and any evaluation during training included)."""
    precision, device = training_precision(args, model), device_name(args.device)
    peak = peak_flops(device, precision)
    achieved = tokens * flops_per_token / runtime / args.world_size if tokens and runtime else None
    mfu = achieved / peak if achieved and peak else None
    if achieved:
        speed = f"{tokens / runtime:,.0f} tokens/s x {flops_per_token:.3g} FLOPs/token"
        if mfu:
            logger.info("%s: %.1f TFLOP/s per device, MFU %.1f%% of the %s %s peak", speed, achieved / 1e12, 100 * mfu,
                        device, precision)  # fmt: skip
        else:
            logger.info("%s: %.2f GFLOP/s per device (no %s peak known for %s: no MFU)", speed, achieved / 1e9,
                        precision, device)  # fmt: skip
    return {
        "train_tokens_per_second": tokens / runtime if tokens and runtime else None,
        "model_flops_per_token": flops_per_token,
        "achieved_tflops": achieved / 1e12 if achieved else None,
        "peak_tflops": peak / 1e12 if peak else None,
        "mfu": mfu,
        "precision": precision,
        "device": device,
    }
