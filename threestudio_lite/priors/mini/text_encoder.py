"""The mini text prior's text encoder: word embeddings, a small transformer, a masked-mean pooled vector.

A diffusers ``ModelMixin`` so it saves and loads with ``save_pretrained``/``from_pretrained`` (safetensors)
beside the UNet, like any pipeline component."""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


class MiniTextEncoder(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, vocab_size: int, width: int = 128, layers: int = 2, heads: int = 4, max_length: int = 16):
        super().__init__()
        self.tokens = torch.nn.Embedding(vocab_size, width)
        self.positions = torch.nn.Parameter(torch.zeros(max_length, width))
        layer = torch.nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.transformer = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(width)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states (B, L, W) and the pooled embedding (B, W): the mean over real tokens."""
        x = self.tokens(input_ids) + self.positions[: input_ids.shape[1]]
        x = self.norm(self.transformer(x, src_key_padding_mask=~attention_mask))
        weights = attention_mask.unsqueeze(-1).to(x.dtype)
        return x, (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
