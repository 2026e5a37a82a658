"""The small noise-predictor interface every prior backend implements, so SDS and VSD are written once.

Classifier-free guidance uses the diffusers convention: eps = eps_uncond + s · (eps_cond - eps_uncond)
(threestudio's eps_cond + s · (eps_cond - eps_uncond) equals this with s + 1)."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch

from ..data.cameras import Cameras
from ..data.views import ViewRule, view_suffix
from .perp_neg import perp_neg_guided, view_mix


@dataclass
class TextCondition:
    """Per-image conditional and unconditional embeddings, in whatever form the backend consumes; with
    Perp-Neg also K negative embeddings per image (K, B, ...) and their guidance weights (B, K)."""

    cond: torch.Tensor
    uncond: torch.Tensor
    negatives: torch.Tensor | None = None
    negative_weights: torch.Tensor | None = None

    def map(self, fn) -> "TextCondition":
        """The same condition with ``fn`` applied to every (B, ...) embedding batch."""
        negatives = None if self.negatives is None else torch.stack([fn(n) for n in self.negatives])
        return TextCondition(fn(self.cond), fn(self.uncond), negatives, self.negative_weights)


def guided(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    return eps_uncond + scale * (eps_cond - eps_uncond)


def noised(alpha_bar: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The forward process: x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε (ᾱ_t broadcastable to x0)."""
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * eps


def one_step_x0(alpha_bar: torch.Tensor, x_t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The x0 a noise prediction implies at x_t: (x_t - sqrt(1 - ᾱ_t) ε̂) / sqrt(ᾱ_t) (ᾱ_t broadcastable to x_t)."""
    return (x_t - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()


class Prior(abc.ABC):
    """A frozen diffusion model seen through what score distillation needs."""

    #: One line saying what this prior is, printed at the start of every run.
    description: str
    #: ᾱ_t for t = 0 .. T-1, on the prior's device.
    alphas_cumprod: torch.Tensor
    #: Side of the square images ``encode`` expects; renders are resized to it.
    image_size: int
    #: Channels of the latent space renders can be distilled in directly (0: none, a pixel-space prior).
    latent_channels: int = 0

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

    def latents_from_render(self, renders: torch.Tensor) -> torch.Tensor:
        """Latent renders (B, latent_channels, H, W) -> the diffusion model's x0 (latent-space priors only)."""
        raise ValueError(f"{self.description} has no latent space to distil in")

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, latent_channels, h, w) -> images (B, 3, S, S) in [0, 1] (latent-space priors only)."""
        raise ValueError(f"{self.description} has no latent space to decode")

    @abc.abstractmethod
    def condition(self, prompt: str, cameras: Cameras, negative_prompt: str = "") -> object:
        """The conditioning for one image per camera."""


class TextPrior(Prior):
    """A text-conditioned prior with view-dependent prompts and cached text embeddings."""

    view_rule = ViewRule()
    view_dependent: bool = True
    #: Perp-Neg guidance (interpolated view embeddings, perpendicular negative views); needs view_dependent.
    perp_neg: bool = False

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
        uncond = self.embed_cached([negative_prompt] * len(cameras))
        if self.perp_neg and self.view_dependent:
            return self.perp_neg_condition(prompt, cameras, uncond)
        return TextCondition(self.embed_cached(self.view_prompts(prompt, cameras)), uncond)

    def perp_neg_condition(self, prompt: str, cameras: Cameras, uncond: torch.Tensor) -> TextCondition:
        """Per camera: the azimuth-interpolated view embedding, and the two view embeddings to push away from."""
        views = ("front", "side", "back", "overhead")
        table = dict(zip(views, self.embed_cached([prompt + view_suffix(v) for v in views])))
        positives, negatives, weights = [], [], []
        for el, az in zip(cameras.elevation.tolist(), cameras.azimuth.tolist()):
            mix, negs = view_mix(el, az, self.view_rule.overhead_elevation)
            positives.append(sum(w * table[v] for v, w in mix))
            negatives.append(torch.stack([table[v] for v, _ in negs]))
            weights.append([w for _, w in negs])
        return TextCondition(torch.stack(positives), uncond, torch.stack(negatives, 1),
                             torch.tensor(weights, device=uncond.device))

    @abc.abstractmethod
    def unguided_eps(self, x_t: torch.Tensor, t: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """ε prediction for x_t at timesteps t under one embedding per image (one batched model call)."""

    def predict_noise(self, x_t: torch.Tensor, t: torch.Tensor, cond: TextCondition, guidance_scale: float) -> torch.Tensor:
        """Classifier-free guidance, or Perp-Neg when the condition carries negatives; all branches in one call."""
        if cond.negatives is None and guidance_scale == 1.0:
            return self.unguided_eps(x_t, t, cond.cond)
        branches = [cond.uncond, cond.cond] + ([] if cond.negatives is None else list(cond.negatives))
        n = len(branches)
        eps = self.unguided_eps(x_t.repeat(n, *[1] * (x_t.ndim - 1)), t.repeat(n), torch.cat(branches)).chunk(n)
        if cond.negatives is None:
            return guided(eps[0], eps[1], guidance_scale)
        return perp_neg_guided(eps[0], eps[1], list(eps[2:]), cond.negative_weights, guidance_scale)
