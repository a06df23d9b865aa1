"""Sequence classifiers over a causal LM that read the mean of the non-pad hidden states instead of the last token.

transformers' ``*ForSequenceClassification`` heads for decoder models (GPT-2, Llama, Qwen2) score the hidden state
of the last token that is not padding. After language-model pretraining that state predicts the next document more
than it sums up the text; the mean over the text's tokens is the usual alternative. No stock class pools that way,
so each class here has the stock one's layout and weight names (``transformer.*`` or ``model.*``, and
``score.weight``) with its own ``forward``, and loads from a causal-LM folder exactly as the stock class does.

A saved model is a folder with its own ``model_type`` (``gpt2-mean-pooled``, ...) and this file in it (``auto_map``
in ``config.json``). Plain ``transformers`` loads it with ``trust_remote_code=True``::

    pipeline("text-classification", model=FOLDER_OR_REPO, trust_remote_code=True)

or, where hfrecipes is installed, without it after ``import hfrecipes.pooling`` (which registers the classes with
the Auto classes). Loading without either fails with transformers' trust_remote_code error; it never silently falls
back to last-token pooling. Last-token pooling (the default) saves a stock model that needs neither.

This file imports only torch and transformers: it is copied as is into every saved mean-pooled model.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    GPT2Config,
    GPT2ForSequenceClassification,
    LlamaConfig,
    LlamaModel,
    LlamaPreTrainedModel,
    Qwen2Config,
    Qwen2Model,
    Qwen2PreTrainedModel,
)
from transformers.modeling_outputs import SequenceClassifierOutputWithPast


class MeanPoolingMixin:
    """``forward`` of a decoder ``*ForSequenceClassification`` that scores the mean of the non-pad hidden states.

    Non-pad: ``attention_mask`` where given, else tokens that are not ``pad_token_id``. Either padding side works.
    The head is the stock ``score`` layer (no bias), so the logits are the mean of the per-token logits.
    """

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutputWithPast:
        kwargs.pop("use_cache", None)
        kwargs.pop("return_dict", None)
        backbone = getattr(self, self.base_model_prefix)
        outputs = backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=False,
            **kwargs,
        )
        hidden = outputs.last_hidden_state
        pad_token_id = self.config.pad_token_id
        if attention_mask is not None:
            mask = attention_mask
        elif input_ids is not None and pad_token_id is not None:
            mask = input_ids != pad_token_id
        else:
            mask = torch.ones(hidden.shape[:2], device=hidden.device)
        mask = mask.to(hidden.dtype).unsqueeze(-1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        logits = self.score(pooled)
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, pooled_logits=logits, config=self.config)
        return SequenceClassifierOutputWithPast(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class _DecoderClassifier(MeanPoolingMixin):
    """The layout of transformers' generic decoder classifier (``model`` + ``score``, as Llama's and Qwen2's), with
    the backbone class named: the generic one finds it through ``AutoModel``, which does not know these configs."""

    backbone_class: type

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, self.backbone_class(config))
        self.score = nn.Linear(config.hidden_size, config.num_labels, bias=False)
        self.post_init()


class MeanPooledGPT2Config(GPT2Config):
    model_type = "gpt2-mean-pooled"


class MeanPooledGPT2ForSequenceClassification(MeanPoolingMixin, GPT2ForSequenceClassification):
    config_class = MeanPooledGPT2Config


class MeanPooledLlamaConfig(LlamaConfig):
    model_type = "llama-mean-pooled"


class MeanPooledLlamaForSequenceClassification(_DecoderClassifier, LlamaPreTrainedModel):
    config_class = MeanPooledLlamaConfig
    backbone_class = LlamaModel


class MeanPooledQwen2Config(Qwen2Config):
    model_type = "qwen2-mean-pooled"


class MeanPooledQwen2ForSequenceClassification(_DecoderClassifier, Qwen2PreTrainedModel):
    config_class = MeanPooledQwen2Config
    backbone_class = Qwen2Model


# base model_type -> the mean-pooled classifier over it
MEAN_POOLED = {
    "gpt2": MeanPooledGPT2ForSequenceClassification,
    "llama": MeanPooledLlamaForSequenceClassification,
    "qwen2": MeanPooledQwen2ForSequenceClassification,
}


def register() -> None:
    """Makes the Auto classes (and so ``pipeline``) load saved mean-pooled models without ``trust_remote_code``,
    and makes ``save_pretrained`` write ``auto_map`` and this file into the folder (for loading without hfrecipes)."""
    for model_class in MEAN_POOLED.values():
        config_class = model_class.config_class
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModelForSequenceClassification.register(config_class, model_class, exist_ok=True)
        config_class.register_for_auto_class()
        model_class.register_for_auto_class("AutoModelForSequenceClassification")


if __name__ == "hfrecipes.pooling":  # not in the copy a saved model carries (transformers imports it by path)
    register()
