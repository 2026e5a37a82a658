"""A text-conditioned diffusers prior: UNet2DConditionModel + scheduler + text encoder (+ VAE).

Folder layout (what ``DiffusionPipeline.save_pretrained`` writes): ``unet/``, ``scheduler/``,
``text_encoder/`` and ``tokenizer/`` (transformers), and ``vae/`` for latent-space models. The text
encoder's last hidden states are the UNet's ``encoder_hidden_states``. This covers Stable Diffusion 1.x/2.x
(CLIP text encoder; renders resized to the VAE's input size, 512, and encoded to latents) and DeepFloyd IF
stage I (T5 text encoder; pixel space, 64x64; its UNet also predicts a variance, which SDS ignores).
Epsilon- and v-prediction UNets are both turned into ε."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DConditionModel

from .base import TextPrior


def load_text_encoder(path: str, device: torch.device, dtype: torch.dtype, local_files_only: bool = False):
    """Tokenizer and text encoder from ``path/tokenizer`` and ``path/text_encoder`` (transformers)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer, T5EncoderModel

    local = {"local_files_only": local_files_only}
    tokenizer = AutoTokenizer.from_pretrained(path, subfolder="tokenizer", **local)
    config = AutoConfig.from_pretrained(path, subfolder="text_encoder", **local)
    model_class = T5EncoderModel if config.model_type == "t5" else AutoModel
    encoder = model_class.from_pretrained(path, subfolder="text_encoder", dtype=dtype, **local).to(device).eval()
    encoder.requires_grad_(False)
    return tokenizer, encoder


def eps_from_prediction(pred: torch.Tensor, x_t: torch.Tensor, alphas_cumprod_t: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """The UNet's output as a noise prediction."""
    if prediction_type == "epsilon":
        return pred
    if prediction_type == "v_prediction":
        return alphas_cumprod_t.sqrt() * pred + (1.0 - alphas_cumprod_t).sqrt() * x_t
    raise ValueError(f"unsupported prediction type {prediction_type!r}")


@contextmanager
def visiting(module: torch.nn.Module, device: torch.device, offloaded: bool):
    """``module`` on ``device`` for the block; an offloaded module goes back to CPU memory after it."""
    if offloaded:
        module.to(device)
    try:
        yield module
    finally:
        if offloaded:
            module.to("cpu")
            if device.type == "cuda":
                torch.cuda.empty_cache()


def has_component(path: str, name: str, local_files_only: bool = False) -> bool:
    """Whether the pipeline at ``path`` (folder or hub id) has the component ``name`` (e.g. ``vae``)."""
    if Path(path).is_dir():
        return (Path(path) / name).is_dir()
    from diffusers import DiffusionPipeline

    return name in DiffusionPipeline.load_config(path, local_files_only=local_files_only)


class DiffusersTextPrior(TextPrior):
    """``local_files_only`` reads a hub id from the local cache only (no network)."""

    #: Whether the text encoder lives in CPU memory between uses (PriorConfig.cpu_offload).
    encoder_offload = False

    def __init__(self, path: str, device: torch.device, dtype: torch.dtype = torch.float32, local_files_only: bool = False):
        super().__init__()
        local = {"local_files_only": local_files_only}
        self.unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", torch_dtype=dtype, **local).to(device).eval()
        self.unet.requires_grad_(False)
        scheduler = DDPMScheduler.from_pretrained(path, subfolder="scheduler", **local)
        self.prediction_type = scheduler.config.prediction_type
        self.alphas_cumprod = scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)
        self.tokenizer, self.text_encoder = load_text_encoder(path, device, dtype, local_files_only)
        self.vae = None
        self.image_size = self.unet.config.sample_size
        space = "pixel-space"
        if has_component(path, "vae", local_files_only):
            from diffusers import AutoencoderKL

            self.vae = AutoencoderKL.from_pretrained(path, subfolder="vae", torch_dtype=dtype, **local).to(device).eval()
            self.vae.requires_grad_(False)
            self.image_size *= 2 ** (len(self.vae.config.block_out_channels) - 1)
            self.latent_channels = self.vae.config.latent_channels
            space = "latent-space"
        self.dtype = dtype
        self.description = f"diffusers {space} prior from {path} ({self.image_size}x{self.image_size} images)"

    @property
    def encoder(self) -> torch.nn.Module:
        return self.text_encoder

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images to the UNet's x0: [-1, 1] pixels, or the VAE latents' posterior mean times the
        VAE's scaling factor (the mean rather than a sample keeps SDS deterministic given its noise)."""
        x = (images * 2.0 - 1.0).to(self.dtype)
        if self.vae is None:
            return x
        return self.vae.encode(x).latent_dist.mean * self.vae.config.scaling_factor

    def latents_from_render(self, renders: torch.Tensor) -> torch.Tensor:
        """Renders of latents (threestudio's rgb_as_latents), resized to the UNet's sample size."""
        return F.interpolate(renders, size=(self.unet.config.sample_size,) * 2, mode="bilinear",
                             align_corners=False).to(self.dtype)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        images = self.vae.decode(latents.to(self.dtype) / self.vae.config.scaling_factor).sample
        return (images.float() * 0.5 + 0.5).clamp(0.0, 1.0)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(
            texts, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt"
        )
        with visiting(self.text_encoder, self.device, self.encoder_offload) as encoder:
            return encoder(tokens.input_ids.to(self.device))[0]

    def unguided_eps(self, x_t: torch.Tensor, t: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        pred = self.unet(x_t.to(self.dtype), t, encoder_hidden_states=embeddings).sample.float()
        if pred.shape[1] == 2 * x_t.shape[1]:  # learned variance (DeepFloyd IF): the first half is the prediction
            pred = pred[:, : x_t.shape[1]]
        return eps_from_prediction(pred, x_t.float(), self.alphas_cumprod[t].view(-1, 1, 1, 1), self.prediction_type)
