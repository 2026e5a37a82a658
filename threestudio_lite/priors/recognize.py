"""Which caption, scale and offset of a pictured object best explain the picture under a camera-conditioned text
prior (a diffusion classifier: the candidate whose condition lets the prior denoise the picture best, with the
same noise and timesteps for every candidate). Image-to-3D uses the answer to add the text prior's SDS beside the
view prior's (Magic123). A camera-conditioned prior must see the object as large, and as placed, as in its
training renders: ``recognise`` takes that placement from the picture's camera (undoing the recentring), ``align``
searches for it when the camera's distance is not known (the recentred picture has lost the object's size and
where its origin was)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data.cameras import Cameras, image_plane
from .base import TextPrior, noised

BATCH = 64  # the mini UNet is fastest per image around this batch on the CPU


@dataclass(frozen=True)
class Alignment:
    """The text prior's frame in the scene's: X_scene = scale (X_prior - offset)."""

    caption: str
    scale: float = 1.0
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def scene_cameras(self, cameras: Cameras) -> Cameras:
        """Cameras in the scene that see what ``cameras`` see in the prior's frame (lights moved alike)."""
        return cameras.in_similar_frame(self.scale, torch.tensor(self.offset))

    def as_dict(self) -> dict:
        return {"caption": self.caption, "scale": round(self.scale, 4), "offset": [round(v, 4) for v in self.offset]}


def warp(rgba: torch.Tensor, scale: float, shift: tuple[float, float], size: int) -> torch.Tensor:
    """(3, size, size) on white: the picture (4, S, S) as the prior's frame shows it when the scene is ``scale``
    times the prior's frame and the prior's origin appears at ``shift`` (normalized image coordinates, x right,
    y down) — a point at u in the prior's image is at scale * u + shift in the picture."""
    if rgba.shape[-1] > 2 * size:  # antialias first: grid sampling reads only the nearest pixels
        rgba = F.interpolate(rgba[None], size=(2 * size, 2 * size), mode="bilinear", antialias=True, align_corners=False)[0]
    theta = torch.tensor([[scale, 0.0, shift[0]], [0.0, scale, shift[1]]], dtype=rgba.dtype)
    grid = F.affine_grid(theta[None], [1, 4, size, size], align_corners=False)
    premultiplied = torch.cat([rgba[:3] * rgba[3:], rgba[3:]])
    out = F.grid_sample(premultiplied[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    return out[:3] + (1.0 - out[3:])


class DenoisingScore:
    """Mean squared ε error of the prior on images under captions, all seen by one camera, with fixed draws
    (timesteps and noise) shared by every candidate, so differences between candidates are not noise."""

    def __init__(self, prior: TextPrior, camera: Cameras, draws: int, generator: torch.Generator):
        self.prior, self.camera = prior, camera
        T = prior.num_train_timesteps
        # Timesteps spread over the middle of the schedule, where the condition decides most of the image.
        self.t = torch.linspace(0.2 * T, 0.8 * T, draws).round().long()
        size = prior.image_size
        self.noise = torch.randn((draws, 3, size, size), generator=generator)
        self._conditions: dict[str, torch.Tensor] = {}

    def condition(self, caption: str) -> torch.Tensor:
        """The caption's embedding (1, ...) at the camera (view suffix and camera included)."""
        if caption not in self._conditions:
            self._conditions[caption] = self.prior.condition(caption, self.camera).cond
        return self._conditions[caption]

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, captions: list[str]) -> torch.Tensor:
        """(N,) mean squared ε errors of images (N, 3, S, S) in [0, 1] under captions (N)."""
        prior, device = self.prior, self.prior.device
        draws = len(self.t)
        x0 = prior.encode(images.to(device)).repeat_interleave(draws, 0)
        t = self.t.repeat(len(images)).to(device)
        noise = self.noise.repeat(len(images), 1, 1, 1).to(device)
        a = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
        x_t = noised(a, x0, noise)
        cond = torch.cat([self.condition(c) for c in captions]).repeat_interleave(draws, 0)
        errors = []
        for i in range(0, len(x_t), BATCH):
            part = slice(i, i + BATCH)
            eps = prior.unguided_eps(x_t[part], t[part], cond[part])
            errors.append(((eps.float() - noise[part]) ** 2).mean((1, 2, 3)).cpu())
        return torch.cat(errors).view(len(images), draws).mean(1)


def rank(score: DenoisingScore, picture: torch.Tensor, captions: list[str], keep: int,
         generator: torch.Generator) -> dict[str, float]:
    """The ``keep`` captions under which the prior denoises ``picture`` (3, S, S) best, best first, with their
    errors: every caption with 2 draws, then the best 4 x keep with all of ``score``'s."""
    if len(captions) == 1:
        return {captions[0]: 0.0}
    quick = DenoisingScore(score.prior, score.camera, 2, generator)
    rough = quick(picture[None].expand(len(captions), -1, -1, -1), captions)
    captions = [captions[i] for i in rough.argsort()[:4 * keep].tolist()]
    errors = score(picture[None].expand(len(captions), -1, -1, -1), captions)
    return {captions[i]: float(errors[i]) for i in errors.argsort()[:keep].tolist()}


def recognise(
    prior: TextPrior, rgba: torch.Tensor, camera: Cameras, captions: list[str], generator: torch.Generator,
    scale: float, offset: tuple[float, float, float], draws: int = 6,
) -> Alignment:
    """The best caption for the picture ``rgba`` (4, S, S) seen by ``camera``, placed by a known alignment."""
    score = DenoisingScore(prior, camera, draws, generator)
    picture = warp(rgba, scale, prior_shift(camera, scale, offset), prior.image_size)
    return Alignment(next(iter(rank(score, picture, captions, 1, generator))), scale, offset)


def align(
    prior: TextPrior, rgba: torch.Tensor, camera: Cameras, captions: list[str], generator: torch.Generator,
    draws: int = 6, shortlist: int = 6,
) -> Alignment:
    """The best (caption, scale, offset) for the picture ``rgba`` (4, S, S) seen by ``camera`` (one view).

    Coarse to fine: every caption at scale 1 and no shift (``rank``); for each of the ``shortlist`` best, scale (0.7-1.5)
    and shift (up to 0.3 of the half-frame) in turn; the winner's scale once more on a finer grid."""
    size = prior.image_size

    def errors(score: DenoisingScore, candidates: list[tuple[str, float, tuple[float, float]]]) -> torch.Tensor:
        return score(torch.stack([warp(rgba, s, xy, size) for _, s, xy in candidates]), [c for c, _, _ in candidates])

    score = DenoisingScore(prior, camera, draws, generator)
    screen_error = rank(score, warp(rgba, 1.0, (0.0, 0.0), size), captions, shortlist, generator)
    state = {c: (1.1, (0.0, 0.0)) for c in screen_error}  # the middle of the scale range below
    best_error: dict[str, float] = {}

    def refine(moves) -> None:
        """Move every caption's (scale, shift) to its best among ``moves(scale, shift)``."""
        candidates = [(c, s, xy) for c, (s0, xy0) in state.items() for s, xy in moves(s0, xy0)]
        for (c, s, xy), e in zip(candidates, errors(score, candidates).tolist()):
            if e < best_error.get(c, math.inf):
                best_error[c], state[c] = e, (s, xy)

    def scales(step: float, n: int):
        return lambda s0, xy: [(s0 + step * i, xy) for i in range(-n, n + 1) if s0 + step * i > 0.5]

    def shifts(step: float, n: int):
        return lambda s, xy: [(s, (xy[0] + step * i, xy[1] + step * j)) for i, j in itertools.product(range(-n, n + 1), repeat=2)]

    for moves in (scales(0.1, 4), scales(0.05, 1), shifts(0.15, 2), shifts(0.075, 1)):
        refine(moves)
    # A caption must fit both the picture as it is framed and at its best placement: the placement alone lets a
    # wrong shape fit by moving and resizing it.
    caption = min(best_error, key=lambda c: best_error[c] + screen_error[c])
    state, best_error = {caption: state[caption]}, {}
    refine(scales(0.025, 3))
    scale, shift = state[caption]
    return Alignment(caption, scale, prior_offset(camera, scale, shift))


def prior_offset(camera: Cameras, scale: float, shift: tuple[float, float]) -> tuple[float, float, float]:
    """Alignment.offset for a prior origin seen at normalized image offset ``shift`` (x right, y down): that
    origin is the scene point -scale * offset, on the plane through the look-at point facing the camera."""
    half, right, up = image_plane(camera)
    return tuple(float(v) for v in -half * (shift[0] * right - shift[1] * up) / scale)


def prior_shift(camera: Cameras, scale: float, offset: tuple[float, float, float]) -> tuple[float, float]:
    """The normalized image offset at which ``camera`` sees the prior's origin: the inverse of prior_offset."""
    half, right, up = image_plane(camera)
    offset = torch.tensor(offset, dtype=right.dtype)
    return float(-scale * (offset @ right) / half), float(scale * (offset @ up) / half)
