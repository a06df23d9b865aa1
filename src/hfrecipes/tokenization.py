"""Byte-level BPE tokenizers (GPT-2 style) with the special tokens our recipes rely on."""

from __future__ import annotations

import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
# ChatML-style turn markers, reserved now so SFT needs no embedding resize later.
CHAT_TOKENS = ["<|im_start|>", "<|im_end|>"]
SPECIAL_TOKENS = [EOS_TOKEN, PAD_TOKEN, *CHAT_TOKENS]
BYTE_ALPHABET_SIZE = 256

# Roles are rendered ChatML-style; generation prompts end with the assistant header.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}"
    "{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def min_vocab_size() -> int:
    return BYTE_ALPHABET_SIZE + len(SPECIAL_TOKENS)


def train_bpe_tokenizer(
    batches: Iterable[list[str]], vocab_size: int, min_frequency: int = 2, length: int | None = None
):
    """Trains a byte-level BPE on batches of text and wraps it as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=True,
    )
    # An iterator of batches (lists of str): tokenizers parallelises inside each batch.
    tok.train_from_iterator(batches, trainer=trainer, length=length)
    return wrap_tokenizer(tok)


def wrap_tokenizer(tok):
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=CHAT_TOKENS,
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def bytes_per_token(tokenizer, texts: Iterable[str]) -> float:
    n_bytes = n_tokens = 0
    for text in texts:
        n_bytes += len(text.encode("utf-8"))
        n_tokens += len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])
    return n_bytes / max(n_tokens, 1)


def token_byte_lengths(tokenizer):
    """UTF-8 bytes each token id stands for (0 for special tokens): turns token NLL into bits per byte.

    In a byte-level BPE each character of a token's string is one byte, which also counts tokens that hold
    part of a multi-byte character correctly (decoding them alone would give U+FFFD).
    """
    import numpy as np
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = set(ByteLevel.alphabet())
    special = set(tokenizer.all_special_ids)
    lengths = np.zeros(len(tokenizer), dtype=np.int64)
    for token_id, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        if token_id in special or token is None:
            continue
        if set(token) <= alphabet:
            lengths[token_id] = len(token)
        else:
            lengths[token_id] = len(tokenizer.decode([token_id], clean_up_tokenization_spaces=False).encode("utf-8"))
    return lengths
