"""Training recipe of the view-conditioned prior: (reference view, relative camera) -> target view,
pairs drawn within each rendered group (one object, several cameras)."""

from __future__ import annotations

from pathlib import Path

import torch

from ...data.cameras import CameraConfig, make_cameras
from ...world.captions import object_from_caption
from ...world.render import composite, render
from .camera import RELATIVE_FEATURES, relative_camera_features
from .data import WorldImages
from .models import mini_unet
from .train import Recipe, TrainPriorConfig, noise_scheduler, prediction_loss, seeded
from .view_prior import MiniViewPrior, Reference

GRID_OBJECTS = ("a red cube", "a green torus", "a snowman with an orange nose", "a mug with a red handle",
                "a house with a red door", "a large tall yellow cone")
GRID_AZIMUTHS = (60.0, 120.0, 180.0, 240.0, 300.0)


class ViewRecipe(Recipe):
    def __init__(self, config: TrainPriorConfig):
        self.config = config
        self.camera = CameraConfig()
        with seeded(config.seed):
            unet = mini_unet(RELATIVE_FEATURES, in_channels=6, channels=tuple(config.channels),
                             image_size=config.image_size)
        self.modules = torch.nn.ModuleDict({"unet": unet})

    def prior(self, modules) -> MiniViewPrior:
        return MiniViewPrior(modules["unet"], noise_scheduler(), self.camera)

    def loss(self, modules, data: WorldImages, index, x_t, t, target, generator):
        """``index`` picks the targets; each reference is another (or the same) view of the target's group."""
        V = data.views_per_group
        reference = index - index % V + torch.randint(V, index.shape, generator=generator)
        ref = data.float_images(reference) * 2.0 - 1.0
        features = relative_camera_features(data.cameras[reference], data.cameras[index], self.camera)
        drop = (torch.rand(len(index), 1, generator=generator) < self.config.condition_dropout).float()
        ref = ref * (1.0 - drop.view(-1, 1, 1, 1))
        features = features * (1.0 - drop)
        tokens = features.new_zeros(len(index), 1, features.shape[-1])
        pred = modules["unet"](torch.cat([x_t, ref], 1), t, encoder_hidden_states=tokens, class_labels=features).sample
        return prediction_loss(pred, target)

    @torch.no_grad()
    def sample_grid(self, modules, data, generator):
        """Per object: reference (azimuth 0) then truth views, and below them samples for the same cameras."""
        from ..sampling import sample

        prior = self.prior(modules)
        size = self.config.image_size
        ref_cam = make_cameras(0.0, 0.0, 2.4, 42.5, size, size)
        cams = make_cameras(15.0, torch.tensor(GRID_AZIMUTHS), 2.4, 42.5, size, size)
        rows = []
        for caption in GRID_OBJECTS:
            obj = object_from_caption(caption)
            ref_image = composite(render(obj, ref_cam), (1.0, 1.0, 1.0))[0]
            reference = Reference(ref_image.permute(2, 0, 1), 0.0, 0.0, 2.4, 42.5)
            truth = composite(render(obj, cams), (1.0, 1.0, 1.0))
            samples = sample(prior, prior.condition(reference, cams), len(cams), guidance_scale=1.0,
                             generator=generator).permute(0, 2, 3, 1)
            rows += [torch.cat([ref_image[None], truth]), torch.cat([ref_image[None], samples])]
        return rows

    def save(self, modules, folder: Path) -> None:
        self.prior(modules).save_pretrained(folder)

