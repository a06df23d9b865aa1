"""Sampling with ``model.generate``: plain continuations, and chat replies through the tokenizer's chat template."""

from __future__ import annotations

from .modeling import context_length


def generate_ids(
    model,
    tokenizer,
    input_ids: list[int],
    max_new_tokens: int = 60,
    temperature: float = 0.8,
    top_k: int = 50,
    top_p: float = 1.0,
) -> tuple[list[int], list[int]]:
    """Continues ``input_ids``; returns the prompt ids kept and the new ids (``temperature`` 0 is greedy).

    The prompt is cut from the left so that prompt and new tokens fit the context: GPT-2 has no positions past it.
    Generation stops at any of the model's EOS ids or the tokenizer's (e.g. ``<|im_end|>`` after SFT).
    """
    import torch

    context = context_length(model)
    prompt = input_ids[-max(context - max_new_tokens, context // 2) :]
    ids = torch.tensor([prompt], dtype=torch.long, device=model.device)
    eos = model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    eos += [tokenizer.eos_token_id] if tokenizer.eos_token_id not in eos else []
    sampling = {"do_sample": True, "temperature": temperature, "top_k": top_k, "top_p": top_p}
    model.eval()
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max(0, min(max_new_tokens, context - len(prompt))),
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
            **(sampling if temperature > 0 else {"do_sample": False}),
        )
    return prompt, out[0, len(prompt) :].tolist()


def chat_reply(model, tokenizer, messages: list[dict], **sampling) -> str:
    """The assistant's next turn after ``messages``, rendered with the tokenizer's chat template."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    _, new = generate_ids(model, tokenizer, ids, **sampling)
    return tokenizer.decode(new, skip_special_tokens=True).strip()
