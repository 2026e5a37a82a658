"""Training images for the mini priors, rendered from the procedural world.

Images come in groups: each group is one object seen from ``views_per_group`` cameras drawn by the
optimizer's own camera sampler (same ranges, same light model), composited on white. The text prior
uses every image with its caption and camera; the view-conditioned prior pairs images within a group.
Some shape-colour combinations are held out of training to measure how well the text prior composes."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import torch
from tqdm import tqdm

from ...data.cameras import CameraConfig, CameraSampler
from ...world.captions import caption_variants
from ...world.objects import COMPOSITES, WorldObject, all_objects
from ...world.render import composite, render_many

# (shape, colour) pairs never shown to the text prior, at any size or proportion.
HELD_OUT = (
    ("torus", "purple"), ("cube", "cyan"), ("sphere", "brown"), ("cone", "pink"), ("cylinder", "orange"),
    ("capsule", "green"), ("pyramid", "blue"), ("torus", "yellow"), ("cube", "white"), ("sphere", "gray"),
)
# Share of training groups showing composite objects (6 of the world's 336 objects, but the hardest).
COMPOSITE_SHARE = 0.3


def is_held_out(obj: WorldObject) -> bool:
    return (obj.shape, obj.color_name) in HELD_OUT


def training_objects() -> list[WorldObject]:
    return [o for o in all_objects() if not is_held_out(o)]


@dataclass
class WorldImages:
    images: torch.Tensor  # (N, S, S, 3) uint8, composited on white
    objects: list[WorldObject]
    object_index: torch.Tensor  # (N,) index into objects
    cameras: torch.Tensor  # (N, 4): elevation, azimuth, distance, fovy
    views_per_group: int
    details: torch.Tensor | None = None  # (N, S, S) bool: where a composite's parts after its first show

    def detail_weights(self, index: torch.Tensor, weight: float) -> torch.Tensor | None:
        """(B, 1, S, S) per-pixel loss weights: 1, plus ``weight`` on detail pixels (None: unweighted)."""
        if self.details is None or not weight:
            return None
        return 1.0 + weight * self.details[index].unsqueeze(1).float()

    def __len__(self) -> int:
        return self.images.shape[0]

    def float_images(self, index: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [0, 1]."""
        return self.images[index].permute(0, 3, 1, 2).float() / 255.0

    def captions(self, index: torch.Tensor, rng: random.Random) -> list[str]:
        """A random phrasing of each image's caption."""
        return [rng.choice(caption_variants(self.objects[i])) for i in self.object_index[index].tolist()]


def detail_masks(objects: list[WorldObject], cameras, rgba: torch.Tensor, shading: str = "lambertian") -> torch.Tensor:
    """(N, S, S) pixels where a composite's later parts (thin parts and front markers: legs, stick, bar, nose,
    handle, door, roof) change the render of its first part alone. These few pixels carry the object's
    orientation but are a sliver of the denoising loss; the text recipe weights them up."""
    masks = torch.zeros(rgba.shape[:3], dtype=torch.bool)
    idx = [i for i, o in enumerate(objects) if len(o.parts) > 1]
    if idx:
        base = render_many([replace(objects[i], parts=objects[i].parts[:1], front_part=None) for i in idx],
                           cameras[torch.tensor(idx)], shading)
        white = (1.0, 1.0, 1.0)
        masks[idx] = (composite(rgba[idx], white) - composite(base, white)).abs().amax(-1) > 0.1
    return masks


def render_world_images(
    groups: int, views_per_group: int, size: int, camera: CameraConfig, seed: int, progress: bool = True,
    objects: list[WorldObject] | None = None, shading: str = "lambertian",
) -> WorldImages:
    """Render ``groups`` objects x ``views_per_group`` random views each, shaded by ``shading``."""
    objects = objects or training_objects()
    generator = torch.Generator().manual_seed(seed)
    composites = [i for i, o in enumerate(objects) if o.shape in COMPOSITES]
    simple = [i for i, o in enumerate(objects) if o.shape not in COMPOSITES]
    pick_composite = torch.rand(groups, generator=generator) < (COMPOSITE_SHARE if composites else 0.0)
    choice = torch.where(
        pick_composite,
        torch.tensor(composites or [0])[torch.randint(max(len(composites), 1), (groups,), generator=generator)],
        torch.tensor(simple)[torch.randint(len(simple), (groups,), generator=generator)],
    )
    sampler = CameraSampler(camera)
    images, cams, details = [], [], []
    per_batch = max(1, 256 // views_per_group)
    for start in tqdm(range(0, groups, per_batch), desc="rendering world images", disable=not progress):
        group_objects = choice[start : start + per_batch].tolist()
        batch_objects = [objects[i] for i in group_objects for _ in range(views_per_group)]
        c = sampler.sample(len(batch_objects), size, size, generator)
        c = c[torch.randperm(len(c), generator=generator)]  # the sampler stratifies azimuth in batch order
        rgba = render_many(batch_objects, c, shading)
        images.append((composite(rgba, (1.0, 1.0, 1.0)).clamp(0, 1) * 255 + 0.5).to(torch.uint8))
        details.append(detail_masks(batch_objects, c, rgba, shading))
        cams.append(torch.stack([c.elevation, c.azimuth, c.distance, c.fovy], -1))
    index = choice.repeat_interleave(views_per_group)
    return WorldImages(torch.cat(images), objects, index, torch.cat(cams), views_per_group, torch.cat(details))
