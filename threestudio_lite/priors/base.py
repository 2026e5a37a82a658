"""The small noise-predictor interface every prior backend implements, so SDS and VSD are written once.

Classifier-free guidance uses the diffusers convention: eps = eps_uncond + s · (eps_cond - eps_uncond)
(threestudio's eps_cond + s · (eps_cond - eps_uncond) equals this with s + 1)."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch

from ..data.cameras import Cameras
from ..data.views import ViewRule, view_suffix


@dataclass
class TextCondition:
    """Per-image conditional and unconditional embeddings, in whatever form the backend consumes."""

    cond: torch.Tensor
    uncond: torch.Tensor


def guided(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    return eps_uncond + scale * (eps_cond - eps_uncond)


class Prior(abc.ABC):
    """A frozen diffusion model seen through what score distillation needs."""

    #: One line saying what this prior is, printed at the start of every run.
    description: str
    #: ᾱ_t for t = 0 .. T-1, on the prior's device.
    alphas_cumprod: torch.Tensor
    #: Side of the square images ``encode`` expects; renders are resized to it.
    image_size: int

    @property
    def num_train_timesteps(self) -> int:
        return self.alphas_cumprod.shape[0]

    @property
    def device(self) -> torch.device:
        return self.alphas_cumprod.device

    @abc.abstractmethod
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, S, S) in [0, 1] -> the diffusion model's x0 (differentiable)."""

    @abc.abstractmethod
    def predict_noise(self, x_t: torch.Tensor, t: torch.Tensor, cond, guidance_scale: float) -> torch.Tensor:
        """Guided noise prediction for x_t at integer timesteps t (B,)."""

    @abc.abstractmethod
    def condition(self, prompt: str, cameras: Cameras, negative_prompt: str = "") -> object:
        """The conditioning for one image per camera."""


class TextPrior(Prior):
    """A text-conditioned prior with view-dependent prompts and cached text embeddings."""

    view_rule = ViewRule()
    view_dependent: bool = True

    def __init__(self) -> None:
        self._embedding_cache: dict[str, torch.Tensor] = {}

    def unknown_words(self, text: str) -> list[str]:
        """Words of ``text`` this prior cannot represent (backends with a closed vocabulary override this)."""
        return []

    @abc.abstractmethod
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Embeddings of texts, stacked along dim 0; the empty string is the unconditional embedding."""

    def embed_cached(self, texts: list[str]) -> torch.Tensor:
        """Embeddings from a per-text cache. Each text is encoded alone, so its embedding does not depend on
        which other texts happened to be encoded with it (batched kernels differ in the last bits), and a
        resumed run sees exactly the embeddings of an uninterrupted one."""
        for text in texts:
            if text not in self._embedding_cache:
                with torch.no_grad():
                    self._embedding_cache[text] = self.embed_texts([text])[0]
        return torch.stack([self._embedding_cache[t] for t in texts])

    def view_prompts(self, prompt: str, cameras: Cameras) -> list[str]:
        """The prompt with a view suffix per camera (front/side/back/overhead), if view-dependent."""
        if not self.view_dependent:
            return [prompt] * len(cameras)
        names = self.view_rule.names(cameras.elevation, cameras.azimuth)
        return [prompt + view_suffix(n) for n in names]

    def condition(self, prompt: str, cameras: Cameras, negative_prompt: str = "") -> TextCondition:
        texts = self.view_prompts(prompt, cameras)
        return TextCondition(self.embed_cached(texts), self.embed_cached([negative_prompt] * len(texts)))
