"""Model construction: GPT-2 or Llama shapes from config, vocab sized to the tokenizer; pretrained models to tune."""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from trl import ModelConfig

from .errors import UserError, load_error

logger = logging.getLogger(__name__)


# A new model's shape, when pretraining from scratch (continued pretraining takes the model's own config).
SHAPE_DEFAULTS = {"n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.0}
# Architectures pretrain.py builds from scratch (--model_type), and the shape fields only a Llama has.
MODEL_TYPES = ("gpt2", "llama")
LLAMA_FIELDS = ("n_kv_head", "intermediate_size", "rope_theta")


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Continued pretraining: a model folder or Hub id to start from (its tokenizer and shape come "
            "with it). Default: a new model (--model_type) from scratch."
        },
    )
    model_type: str | None = field(
        default=None,
        metadata={
            "help": "From scratch: gpt2 (default; learned positions, LayerNorm, GELU MLP) or llama (RoPE, RMSNorm, "
            "SwiGLU, grouped-query attention with --n_kv_head), both transformers' own classes.",
            "choices": list(MODEL_TYPES),
        },
    )
    model_revision: str | None = field(default=None, metadata={"help": "Hub branch, tag or commit of the model."})
    tokenizer_name: str | None = field(
        default=None,
        metadata={
            "help": "Tokenizer folder (from train_tokenizer.py) or Hub id. Default: outputs/tokenizer from scratch, "
            "the model's own with --model_name_or_path."
        },
    )
    n_layer: int | None = field(default=None, metadata={"help": "From scratch: transformer blocks (default 4)."})
    n_head: int | None = field(default=None, metadata={"help": "From scratch: attention heads per block (4)."})
    n_embd: int | None = field(
        default=None, metadata={"help": "From scratch: hidden size, divisible by n_head (128)."}
    )
    block_size: int | None = field(
        default=None,
        metadata={
            "help": "Tokens per training sequence (packing length); default 128, or the model's context up to 1024."
        },
    )
    n_positions: int | None = field(default=None, metadata={"help": "From scratch: position embeddings (block_size)."})
    dropout: float | None = field(
        default=None,
        metadata={"help": "From scratch: dropout on residual, embedding, attention (llama: attention_dropout only)."},
    )
    attention_dropout: float | None = field(
        default=None,
        metadata={
            "help": "From scratch: dropout on the attention weights alone (default: dropout). 0 keeps dropout's "
            "regularisation on the residual stream at a fraction of its cost: the attention weights are the "
            "largest tensor it draws random numbers for (block_size x block_size per head)."
        },
    )
    n_kv_head: int | None = field(
        default=None,
        metadata={"help": "From scratch, llama: key/value heads, dividing n_head (default n_head; fewer: GQA)."},
    )
    intermediate_size: int | None = field(
        default=None,
        metadata={"help": "From scratch, llama: SwiGLU hidden size (default 8/3 n_embd, up to a multiple of 32)."},
    )
    rope_theta: float | None = field(default=None, metadata={"help": "From scratch, llama: RoPE base (10000)."})
    vocab_multiple: int = field(
        default=64, metadata={"help": "From scratch: pad the vocab to a multiple of this (speed)."}
    )
    attn_implementation: str | None = field(
        default=None,
        metadata={"help": "Attention kernel: sdpa (default) or eager (faster with bf16 on CPU at short blocks)."},
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow code from the Hub (off by default)."})

    def __post_init__(self):
        shape = ["model_type", *SHAPE_DEFAULTS, "attention_dropout", "n_positions", *LLAMA_FIELDS]
        if self.model_name_or_path is not None:
            given = [name for name in shape if getattr(self, name) is not None]
            if given:
                raise ValueError(
                    f"{given[0]} shapes a new model, but --model_name_or_path continues pretraining "
                    f"'{self.model_name_or_path}' with its own config; drop {given[0]} (or use another --config)"
                )
            check_model_folder(self.model_name_or_path)
            self.tokenizer_name = self.tokenizer_name or self.model_name_or_path
            return
        for name, value in SHAPE_DEFAULTS.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        self.tokenizer_name = self.tokenizer_name or "outputs/tokenizer"
        self.block_size = self.block_size or 128  # ranges (>= 1, ...) are checked at parsing: hfrecipes.validation
        if self.n_embd % self.n_head:
            raise ValueError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}); e.g. n_embd={self.n_head * 32}"
            )
        if self.n_positions is None:
            self.n_positions = self.block_size
        if self.block_size > self.n_positions:
            raise ValueError(
                f"block_size ({self.block_size}) exceeds n_positions ({self.n_positions}); "
                f"lower block_size or raise n_positions"
            )
        if self.attention_dropout is None:
            self.attention_dropout = self.dropout
        for name in ("dropout", "attention_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1)")
        self.model_type = self.model_type or "gpt2"
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {', '.join(MODEL_TYPES)}, got {self.model_type!r}")
        if self.model_type == "llama":
            self._settle_llama_shape()
        elif given := [name for name in LLAMA_FIELDS if getattr(self, name) is not None]:
            raise ValueError(f"{given[0]} shapes a llama model; add --model_type llama or drop {given[0]}")

    def _settle_llama_shape(self):
        head_dim = self.n_embd // self.n_head
        if head_dim % 2:
            raise ValueError(
                f"llama's RoPE needs an even head size, but n_embd / n_head is {head_dim}; "
                f"e.g. n_embd={self.n_head * (head_dim + 1)}"
            )
        self.n_kv_head = self.n_head if self.n_kv_head is None else self.n_kv_head
        if self.n_kv_head < 1 or self.n_head % self.n_kv_head:
            divisors = [k for k in range(1, self.n_head + 1) if self.n_head % k == 0]
            raise ValueError(
                f"n_kv_head ({self.n_kv_head}) must divide n_head ({self.n_head}): one of "
                + ", ".join(map(str, divisors))
            )
        if self.intermediate_size is None:
            self.intermediate_size = swiglu_size(self.n_embd)
        self.rope_theta = 10000.0 if self.rope_theta is None else self.rope_theta


def swiglu_size(n_embd: int, multiple: int = 32) -> int:
    """SwiGLU's hidden size for ``n_embd``: 8/3 of it (three matrices as many weights as GPT-2's two of 4x), rounded
    up to ``multiple`` (Llama's ``multiple_of``)."""
    return -(-math.ceil(8 * n_embd / 3) // multiple) * multiple


def padded_vocab_size(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def build_gpt2(args: ModelArguments, tokenizer):
    """A freshly initialised ``GPT2LMHeadModel`` whose vocab covers the tokenizer (padded for speed)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=padded_vocab_size(len(tokenizer), args.vocab_multiple),
        n_positions=args.n_positions,
        n_embd=args.n_embd,
        n_layer=args.n_layer,
        n_head=args.n_head,
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        attn_pdrop=args.attention_dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        activation_function="gelu_pytorch_tanh",  # gelu_new's function in one kernel (eager: ~6 ops per call)
        attn_implementation=args.attn_implementation,
    )
    model = mark_causal_lm_loss(GPT2LMHeadModel(config))
    logger.info("GPT-2 from scratch: %.2fM parameters, vocab %d", model.num_parameters() / 1e6, config.vocab_size)
    return model


def llama_config(args: ModelArguments, tokenizer):
    """The ``LlamaConfig`` of a new Llama shaped by ``args`` (RoPE, RMSNorm, SwiGLU, ``n_kv_head`` key/value heads),
    its vocab covering the tokenizer (padded for speed) and its input and output embeddings tied, as GPT-2's are."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=padded_vocab_size(len(tokenizer), args.vocab_multiple),
        hidden_size=args.n_embd,
        intermediate_size=args.intermediate_size,
        num_hidden_layers=args.n_layer,
        num_attention_heads=args.n_head,
        num_key_value_heads=args.n_kv_head,
        max_position_embeddings=args.n_positions,
        rope_parameters={"rope_type": "default", "rope_theta": args.rope_theta},
        attention_dropout=args.attention_dropout,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attn_implementation=args.attn_implementation,
    )


def build_llama(args: ModelArguments, tokenizer):
    """A freshly initialised ``LlamaForCausalLM`` of :func:`llama_config`."""
    from transformers import LlamaForCausalLM

    config = llama_config(args, tokenizer)
    model = LlamaForCausalLM(config)
    logger.info(
        "Llama from scratch: %.2fM parameters, vocab %d, %d of %d heads for keys and values, SwiGLU %d",
        model.num_parameters() / 1e6,
        config.vocab_size,
        config.num_key_value_heads,
        config.num_attention_heads,
        config.intermediate_size,
    )
    return model


def pretraining_model(args: ModelArguments, tokenizer):
    """The model ``pretrain.py`` trains: a new GPT-2 or Llama (``model_type``), or (``model_name_or_path``) an
    existing model to adapt.

    Continued pretraining also settles ``args.block_size``: the model's context, at most 1024, unless given (and
    never past the context).
    """
    if args.model_name_or_path is None:
        return build_llama(args, tokenizer) if args.model_type == "llama" else build_gpt2(args, tokenizer)
    check_vocab(args.model_name_or_path, tokenizer, args.trust_remote_code)
    source = PretrainedModelArguments(
        model_name_or_path=args.model_name_or_path,
        model_revision=args.model_revision,
        attn_implementation=args.attn_implementation,
    )
    model = load_causal_lm(source, args.trust_remote_code, tokenizer)
    context = context_length(model)
    if args.block_size is not None and args.block_size > context:
        raise UserError(f"block_size {args.block_size} exceeds the context of '{args.model_name_or_path}' ({context})")
    args.block_size = args.block_size or min(context, 1024)
    logger.info("Continued pretraining of %s: %.2fM parameters", args.model_name_or_path, model.num_parameters() / 1e6)
    return model


def mark_causal_lm_loss(model):
    """Declares GPT-2's loss as ``ForCausalLM``.

    transformers infers ``loss_type`` from the class name and finds none for ``GPT2LMHeadModel``; the Trainer then
    counts ``num_items_in_batch`` over unshifted labels, so train and eval losses come out (T-1)/T too small.
    """
    if getattr(model, "loss_type", None) is None:
        model.loss_type = "ForCausalLM"
    return model


def load_tokenizer(name: str, trust_remote_code: bool = False, revision: str | None = None, add_pad: bool = True):
    """``AutoTokenizer`` for a folder or Hub id; ``add_pad`` gives one without a pad token a ``<|pad|>`` of its own.

    A new pad token may need an embedding row: :func:`fit_embeddings` adds it after the model loads. SFT passes
    ``add_pad=False``: TRL pads with EOS there, and its collator masks labels by length, not by pad id.
    """
    from transformers import AutoTokenizer

    if missing_local_folder(name):
        raise UserError(
            f"no tokenizer folder at {name}; train one with recipes/train_tokenizer.py (make demo) or set "
            "--tokenizer_name to a folder or a Hub id"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        raise UserError(
            load_error(err, "tokenizer", name, revision)
            or f"cannot load tokenizer '{name}' ({str(err).splitlines()[0][:120]}); "
            "train one with recipes/train_tokenizer.py or give a Hub id"
        ) from None
    if tokenizer.eos_token is None:
        raise UserError(f"tokenizer '{name}' has no EOS token; set eos_token in its tokenizer_config.json")
    if add_pad and tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
    return tokenizer


def fit_embeddings(model, tokenizer) -> None:
    """Grows the embedding (and a separate LM head) to cover every token id of ``tokenizer``.

    A token added to a tokenizer (a pad token, chat markers) gets an id past the original vocabulary. Models with
    spare rows (Qwen2.5: 151,936 rows for 151,665 tokens) already cover it; others (GPT-2, Llama 3) would index past
    the embedding: an IndexError on CPU, a device-side assert on a GPU. New rows start at the mean of the old ones
    (transformers' ``mean_resizing``), rounded up to a multiple of 64 for speed.
    """
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        logger.info("Embedding resized from %d to cover the tokenizer's %d tokens", rows, len(tokenizer))
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)


@dataclass
class PretrainedModelArguments(ModelConfig):
    """A model to fine-tune (folder or Hub id) with TRL's LoRA and bitsandbytes fields, checked before it loads."""

    model_name_or_path: str | None = field(
        default="outputs/pretrain", metadata={"help": "Model folder (from pretrain.py or sft.py) or Hub id."}
    )
    lora_target_modules: list[str] | None = field(
        default_factory=lambda: ["all-linear"],
        metadata={"help": "Modules LoRA adapts; 'all-linear' is every linear layer (GPT-2: c_attn, c_proj, c_fc)."},
    )
    merge_adapter: bool = field(
        default=False,
        metadata={"help": "With use_peft, save the model with the LoRA adapter merged in (the adapter to adapter/)."},
    )

    def __post_init__(self):
        super().__post_init__()
        # TRL turns a one-item list into a string, which peft reads as a regex: 'c_attn' would then match nothing.
        if isinstance(self.lora_target_modules, str) and self.lora_target_modules != "all-linear":
            self.lora_target_modules = [self.lora_target_modules]
        if self.load_in_4bit or self.load_in_8bit:
            flag = "--load_in_4bit" if self.load_in_4bit else "--load_in_8bit"
            if self.load_in_4bit and self.load_in_8bit:
                raise ValueError("--load_in_4bit and --load_in_8bit both set; pick one (4 bits is QLoRA)")
            if not self.use_peft:
                raise ValueError(f"{flag} trains LoRA adapters on a quantized model; add --use_peft")
            if problem := bitsandbytes_problem(flag):
                raise ValueError(f"{problem}, or drop {flag} (plain LoRA)")
        if self.merge_adapter and not self.use_peft:
            raise ValueError("merge_adapter merges a LoRA adapter; add --use_peft or drop --merge_adapter")
        check_model_folder(self.model_name_or_path)


def check_model_folder(name: str | None) -> None:
    """Raises ValueError (a one-line user error, before anything loads) for a local model path with nothing there,
    or with weights we would have to unpickle."""
    if missing_local_folder(name):
        raise ValueError(
            f"no model folder at {name}; run `make demo` (it writes outputs/pretrain) or "
            "recipes/pretrain.py first, or set --model_name_or_path to a folder or a Hub id"
        )
    if message := pickle_only_message(name):
        raise ValueError(message)


def missing_local_folder(name: str | None) -> bool:
    """True for an empty name, or one written as a local path (absolute, ./, ../, ~, outputs/) with nothing there."""
    if not name:
        return True
    local = name.startswith(("/", "./", "../", "~", "outputs/")) or Path(name).is_absolute()
    return local and not Path(name).expanduser().exists()


def load_causal_lm(args: PretrainedModelArguments, trust_remote_code: bool = False, tokenizer=None):
    """``AutoModelForCausalLM`` from a folder or Hub id (quantized for QLoRA), with GPT-2's loss type declared.

    With ``tokenizer``, the embedding is grown to cover it (:func:`fit_embeddings`).
    """
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM
    from trl import get_quantization_config

    name = args.model_name_or_path
    # An absolute path goes into adapter_config.json, so a saved LoRA adapter finds its base from any folder.
    if Path(name).is_dir():
        name = str(Path(name).resolve())
    quantization = get_quantization_config(args)
    adapter = (Path(name) / "adapter_config.json").is_file()
    if adapter and tokenizer is not None and len(tokenizer) > _base_rows(name, trust_remote_code):
        # A LoRA adapter trained with tokens its base lacks (ChatML cloned into GPT-2) saved the grown embedding:
        # the base must grow to the tokenizer first, which transformers' own adapter loading does not do.
        return _load_grown_adapter(name, args, tokenizer, trust_remote_code)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            name,
            revision=args.model_revision,
            dtype=args.dtype,
            attn_implementation=args.attn_implementation,
            quantization_config=quantization,
            # bitsandbytes quantizes while loading, onto this process's device: its GPU, or the CPU
            device_map={"": str(PartialState().device)} if quantization is not None else None,
            trust_remote_code=trust_remote_code,
            use_safetensors=True,
        )
    except (OSError, ValueError) as err:
        raise UserError(
            pickle_only_message(name)
            or load_error(err, "model", args.model_name_or_path, args.model_revision)
            or f"cannot load model '{args.model_name_or_path}' ({str(err).splitlines()[0][:120]}); "
            "pretrain one with recipes/pretrain.py (make demo) or give a Hub id"
        ) from None
    if quantization is not None:
        _settle_quantized(model, args)
    if tokenizer is not None:
        fit_embeddings(model, tokenizer)
    return mark_causal_lm_loss(model)


def bitsandbytes_problem(feature: str, minimum: str = "0.46.1") -> str | None:
    """The one-line error (``what; fix``) where bitsandbytes cannot run ``feature``; None where it can.

    bitsandbytes quantizes weights on CPU from 0.46.1 (transformers 5 ignores older ones) as on CUDA, XPU and MPS;
    its 8-bit optimizers step on CPU from 0.50 (:func:`bitsandbytes_optimizer_problem`). What stops it is a missing
    or older package, or a GPU build whose native library did not load (bitsandbytes only logs that, and fails
    later, at the first 4-bit layer or optimizer step).
    """
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    try:
        installed = version("bitsandbytes")
    except PackageNotFoundError:
        return f"{feature} needs bitsandbytes, which is not installed; pip install 'bitsandbytes>={minimum}'"
    if Version(installed) < Version(minimum):
        return f"{feature} needs bitsandbytes >= {minimum} here, not {installed}; pip install -U bitsandbytes"
    import torch

    # Without CUDA it runs without its native library. Not importing it then also keeps an error one line: the import
    # logs a warning on some CPUs (no `kernels` package for its AVX512-BF16 kernel, which we do not use).
    if not torch.cuda.is_available():
        return None
    from bitsandbytes.cextension import BNB_BACKEND, ErrorHandlerMockBNBNativeLibrary, lib

    if isinstance(lib, ErrorHandlerMockBNBNativeLibrary):
        return f"{feature} needs bitsandbytes, whose {BNB_BACKEND} library did not load; see python -m bitsandbytes"
    return None


# transformers' optimizers (TrainingArguments.optim) that are bitsandbytes'
BITSANDBYTES_OPTIMIZERS = {
    *("adamw_bnb_8bit", "adamw_8bit", "paged_adamw_32bit", "paged_adamw_8bit", "lion_32bit", "lion_8bit"),
    *("paged_lion_32bit", "paged_lion_8bit", "ademamix", "ademamix_8bit", "paged_ademamix_32bit"),
    *("paged_ademamix_8bit", "rmsprop_bnb", "rmsprop_bnb_8bit", "rmsprop_bnb_32bit"),
}


def bitsandbytes_optimizer_problem(optim: str) -> str | None:
    """:func:`bitsandbytes_problem` for a Trainer ``--optim``; None for optimizers that are not bitsandbytes'.

    Paged ones run on CPU too, as plain ones (nothing to page to), with a warning from bitsandbytes.
    """
    optim = str(getattr(optim, "value", optim))
    if optim not in BITSANDBYTES_OPTIMIZERS:
        return None
    import torch

    # Before 0.50 they step on GPUs only ("All input tensors need to be on the same GPU" on CPU tensors)
    return bitsandbytes_problem(f"--optim {optim}", "0.46.1" if torch.cuda.is_available() else "0.50.0")


def _settle_quantized(model, args) -> None:
    import bitsandbytes as bnb

    layer = bnb.nn.Linear4bit if args.load_in_4bit else bnb.nn.Linear8bitLt
    layers = [m for m in model.modules() if isinstance(m, layer)]
    if model.device.type == "cpu":
        for module in layers:
            # On CPUs with AVX512-BF16, a Linear4bit in eval mode repacks its weight in place for an inference-only
            # kernel, which training then runs through: no gradient to the layers below (silently wrong LoRA
            # updates) or an in-place error on the bias, and a shape error where in_features is not a multiple of
            # 64. Evaluating between training steps is what we do (eval_on_start), so keep the training layout.
            module.support_avx512bf16_for_cpu = False
        # The weights left unquantized (embeddings, norms) are views into the memory-mapped checkpoint, which keeps
        # the whole file mapped and every page quantization read in this process's RSS: the model's full-precision
        # size. Own copies of them let the file go (a 57M Llama: 680 -> 520 MB RSS after loading).
        for tensor in [*model.parameters(), *model.buffers()]:
            if not isinstance(tensor, bnb.nn.Params4bit | bnb.nn.Int8Params):
                tensor.data = tensor.data.clone()
    kind = f"4 bits ({args.bnb_4bit_quant_type})" if args.load_in_4bit else "8 bits (LLM.int8)"
    logger.info("Quantized to %s: %d bitsandbytes %s layers on %s", kind, len(layers), layer.__name__, model.device)


def quantization_name(args) -> str | None:
    """What results.json records: ``nf4``/``fp4`` (QLoRA), ``int8``, or None for full-precision weights."""
    return args.bnb_4bit_quant_type if args.load_in_4bit else "int8" if args.load_in_8bit else None


def saved_modules_in_model_dtype(model) -> None:
    """Puts the whole layers LoRA trains (``modules_to_save``) back in the dtype of the layers they copy.

    TRL casts every trainable parameter of a quantized (QLoRA) model to bf16, as the QLoRA paper does for adapters.
    LoRA layers cast their input; a whole copied layer (the embedding and head that grow for ChatML) does not, and
    outside TRL's fused loss (generation) it meets fp32 activations: a dtype error.
    """
    from peft.utils.other import ModulesToSaveWrapper

    for module in model.modules():
        if isinstance(module, ModulesToSaveWrapper):
            module.modules_to_save.to(next(module.original_module.parameters()).dtype)


def parameter_numel(param) -> int:
    """A parameter's real number of values: ZeRO-3 partitions it (``numel`` 0 on each rank, ``ds_numel`` whole), and
    bitsandbytes packs two 4-bit values per byte (the layer's shape is in ``quant_state``)."""
    if getattr(param, "ds_numel", None) is not None:
        return param.ds_numel
    quant_state = getattr(param, "quant_state", None)
    if quant_state is not None and getattr(quant_state, "shape", None) is not None:
        return math.prod(quant_state.shape)
    return param.numel()


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, total) parameters at their real number under every engine (:func:`parameter_numel`)."""
    params = list(model.parameters())
    return sum(parameter_numel(p) for p in params if p.requires_grad), sum(parameter_numel(p) for p in params)


def merge_lora(model, adapter_dir: str | Path, args: PretrainedModelArguments, trust_remote_code: bool = False):
    """The LoRA-trained ``model`` (a ``PeftModel``) with its adapter merged in: a plain model to save.

    Unquantized: peft's ``merge_and_unload``. Quantized (QLoRA): a merge into 4/8-bit weights would round the update
    away and save packed weights, so the base model loads again unquantized (``args.dtype``), the adapter saved in
    ``adapter_dir`` is applied (``PeftModel.from_pretrained``), then merged.
    """
    if not (args.load_in_4bit or args.load_in_8bit):
        return model.merge_and_unload()
    rows = model.get_base_model().get_input_embeddings().num_embeddings  # grown for ChatML: peft saved the rows
    merged = _base_with_adapter(adapter_dir, args, rows, trust_remote_code).merge_and_unload()
    logger.info("Adapter merged into a %s copy of its base", merged.dtype)
    return mark_causal_lm_loss(merged)


def _base_rows(folder: str, trust_remote_code: bool) -> int:
    from peft import PeftConfig
    from transformers import AutoConfig

    base = PeftConfig.from_pretrained(folder).base_model_name_or_path
    return AutoConfig.from_pretrained(base, trust_remote_code=trust_remote_code).get_text_config().vocab_size


def _load_grown_adapter(folder: str, args, tokenizer, trust_remote_code: bool):
    return mark_causal_lm_loss(_base_with_adapter(folder, args, len(tokenizer), trust_remote_code))


def _base_with_adapter(folder: str | Path, args, rows: int, trust_remote_code: bool):
    """The adapter's base model, unquantized (``args.dtype``) and grown to ``rows`` embedding rows, with the adapter
    applied (``PeftModel.from_pretrained``; peft saved the grown embedding rows with it)."""
    from peft import PeftConfig, PeftModel

    base_args = copy.copy(args)
    base_args.load_in_4bit = base_args.load_in_8bit = False
    base_args.model_name_or_path = PeftConfig.from_pretrained(str(folder)).base_model_name_or_path
    base = load_causal_lm(base_args, trust_remote_code)
    if rows > base.get_input_embeddings().num_embeddings:
        base.resize_token_embeddings(rows)
    return PeftModel.from_pretrained(base, str(folder))


_PICKLE_WEIGHTS = ("pytorch_model*.bin", "*.pt", "*.pth", "*.ckpt")


def pickle_only_message(name: str) -> str | None:
    """The error for a local model folder whose weights are only pickles, which we never load; else None."""
    folder = Path(name)
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return None
    pickles = sorted(p.name for pattern in _PICKLE_WEIGHTS for p in folder.glob(pattern))
    if not pickles:
        return None
    return (
        f"{name} holds its weights only as a pickle ({pickles[0]}), which hfrecipes does not load (unpickling can run "
        "code); convert it to safetensors (model.save_pretrained) where you trust the file, then retry"
    )


def check_vocab(name: str, tokenizer, trust_remote_code: bool = False) -> None:
    """Before the model loads: every token id must index its embedding (an error now, not an index error mid-run).

    One token of slack is the pad token :func:`load_tokenizer` adds to a tokenizer without one.
    """
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code).get_text_config()
    except (OSError, ValueError):
        return  # loading the model says what is wrong
    rows = getattr(config, "vocab_size", None)
    if rows and len(tokenizer) > rows + 1:
        raise UserError(
            f"the tokenizer of '{name}' has {len(tokenizer)} tokens but the model's embedding has {rows}; "
            "use the tokenizer the model was trained with"
        )


def context_length(model) -> int:
    """Positions the model can attend to (GPT-2: ``n_positions``)."""
    config = model.config.get_text_config()
    return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None) or 1024


def load_sequence_classifier(
    name: str, tokenizer, label_names: list[str] | None, trust_remote_code: bool = False, model_class=None, **config
):
    """``AutoModelForSequenceClassification`` over a pretrained model (folder or Hub id); no label names: regression.
    ``model_class`` (default: that Auto class) and ``config`` overrides: from ``classification.classifier_options``.

    ``pad_token_id`` goes into the config because the head pools the last token that is not padding; label names
    go in too, so ``pipeline("text-classification")`` prints them. Loading a causal LM this way creates a fresh
    ``score`` head (transformers reports its weights as newly initialised: expected). The tokenizer's
    ``model_max_length`` is lowered to the model's context where it is longer.
    """
    from transformers import AutoModelForSequenceClassification

    check_vocab(name, tokenizer, trust_remote_code)
    kwargs = {"num_labels": 1, "problem_type": "regression"}
    if label_names is not None:
        kwargs = {
            "num_labels": len(label_names),
            "problem_type": "single_label_classification",
            "id2label": dict(enumerate(label_names)),
            "label2id": {name: i for i, name in enumerate(label_names)},
        }
    try:
        model = (model_class or AutoModelForSequenceClassification).from_pretrained(
            name,
            trust_remote_code=trust_remote_code,
            use_safetensors=True,
            **kwargs,
            **config,
        )
    except (OSError, ValueError) as err:
        raise UserError(
            pickle_only_message(name)
            or load_error(err, "model", name)
            or f"cannot load model '{name}' ({str(err).splitlines()[0][:120]}); "
            "give the output folder of recipes/pretrain.py or a Hub id"
        ) from None
    fit_embeddings(model, tokenizer)  # e.g. the pad token load_tokenizer adds to GPT-2's or Llama 3's tokenizer
    # Set after the resize: a pad id past the original rows given to from_pretrained makes Llama's embedding
    # (padding_idx) refuse to build.
    model.config.pad_token_id = tokenizer.pad_token_id
    # The head's loss is a batch mean that ignores `num_items_in_batch`. Seeing `**kwargs` in its forward, the Trainer
    # would otherwise assume a token-count loss and multiply train and eval losses by the number of processes.
    model.accepts_loss_kwargs = False
    context = getattr(model.config, "max_position_embeddings", None)
    if context and tokenizer.model_max_length > context:
        # Saved with the tokenizer, so truncation (ours and pipeline's) never runs past the position embeddings.
        tokenizer.model_max_length = context
    return model
