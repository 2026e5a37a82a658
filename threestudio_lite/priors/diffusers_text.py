"""A text-conditioned pixel-space diffusers prior: UNet2DConditionModel + scheduler + text encoder.

Folder layout (what ``DiffusionPipeline.save_pretrained`` writes): ``unet/``, ``scheduler/``,
``text_encoder/`` and ``tokenizer/`` (transformers). The text encoder's last hidden states are the
UNet's ``encoder_hidden_states``. Epsilon- and v-prediction UNets are both turned into ε."""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel

from .base import TextCondition, TextPrior, guided


def load_text_encoder(path: str, device: torch.device, dtype: torch.dtype):
    """Tokenizer and text encoder from ``path/tokenizer`` and ``path/text_encoder`` (transformers)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer, T5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained(path, subfolder="tokenizer")
    config = AutoConfig.from_pretrained(path, subfolder="text_encoder")
    model_class = T5EncoderModel if config.model_type == "t5" else AutoModel
    encoder = model_class.from_pretrained(path, subfolder="text_encoder", torch_dtype=dtype).to(device).eval()
    encoder.requires_grad_(False)
    return tokenizer, encoder


def eps_from_prediction(pred: torch.Tensor, x_t: torch.Tensor, alphas_cumprod_t: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """The UNet's output as a noise prediction."""
    if prediction_type == "epsilon":
        return pred
    if prediction_type == "v_prediction":
        return alphas_cumprod_t.sqrt() * pred + (1.0 - alphas_cumprod_t).sqrt() * x_t
    raise ValueError(f"unsupported prediction type {prediction_type!r}")


class DiffusersTextPrior(TextPrior):
    def __init__(self, path: str, device: torch.device, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", torch_dtype=dtype).to(device).eval()
        self.unet.requires_grad_(False)
        scheduler = DDPMScheduler.from_pretrained(path, subfolder="scheduler")
        self.prediction_type = scheduler.config.prediction_type
        self.alphas_cumprod = scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)
        self.tokenizer, self.text_encoder = load_text_encoder(path, device, dtype)
        self.image_size = self.unet.config.sample_size
        self.dtype = dtype
        self.description = f"diffusers pixel-space prior from {path} ({self.image_size}x{self.image_size})"

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return (images * 2.0 - 1.0).to(self.dtype)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(
            texts, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt"
        )
        return self.text_encoder(tokens.input_ids.to(self.device))[0]

    def predict_noise(self, x_t: torch.Tensor, t: torch.Tensor, cond: TextCondition, guidance_scale: float) -> torch.Tensor:
        B = x_t.shape[0]
        pred = self.unet(
            torch.cat([x_t, x_t]).to(self.dtype), torch.cat([t, t]), encoder_hidden_states=torch.cat([cond.uncond, cond.cond])
        ).sample.float()
        a = self.alphas_cumprod[torch.cat([t, t])].view(-1, 1, 1, 1)
        eps = eps_from_prediction(pred, torch.cat([x_t, x_t]).float(), a, self.prediction_type)
        return guided(eps[:B], eps[B:], guidance_scale)
