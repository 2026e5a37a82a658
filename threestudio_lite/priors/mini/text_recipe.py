"""Training recipe of the mini text prior: captions (random phrasing, view suffix) + camera -> image."""

from __future__ import annotations

from pathlib import Path

import torch

from ...data.cameras import CameraConfig, make_cameras
from ...data.views import VIEW_NAMES, ViewRule, view_suffix
from ...world.captions import caption_variants, object_from_caption
from ...world.objects import all_objects
from ...world.render import composite, render
from .camera import CAMERA_FEATURES, RAY_MAP_CHANNELS, camera_features, ray_map
from .data import WorldImages
from .models import mini_unet
from .text_encoder import MiniTextEncoder
from .text_prior import MiniTextPrior
from .tokenizer import WordTokenizer
from .train import Recipe, TrainPriorConfig, noise_scheduler, prediction_loss, seeded

# Captions shown in sample grids: shapes, colours, composites, and two held-out combinations (last).
GRID_CAPTIONS = ("a red cube", "a blue sphere", "a green torus", "a yellow cone", "a snowman with an orange nose",
                 "a mug with a red handle", "a house with a red door", "a purple torus", "a cyan cube")
GRID_AZIMUTHS = (0.0, 60.0, 120.0, 180.0, 240.0, 300.0)


def build_tokenizer() -> WordTokenizer:
    texts = [v for obj in all_objects() for v in caption_variants(obj)] + [view_suffix(n) for n in VIEW_NAMES]
    return WordTokenizer.from_texts(texts)


class TextRecipe(Recipe):
    def __init__(self, config: TrainPriorConfig):
        self.config = config
        self.tokenizer = build_tokenizer()
        self.camera = CameraConfig()
        with seeded(config.seed):
            encoder = MiniTextEncoder(len(self.tokenizer.vocab), width=config.text_width)
            unet = mini_unet(config.text_width + CAMERA_FEATURES, in_channels=3 + RAY_MAP_CHANNELS,
                             channels=tuple(config.channels), image_size=config.image_size)
        self.modules = torch.nn.ModuleDict({"unet": unet, "text_encoder": encoder})
        self.rule = ViewRule()

    def prior(self, modules) -> MiniTextPrior:
        return MiniTextPrior(modules["unet"], modules["text_encoder"], self.tokenizer, noise_scheduler(), self.camera)

    def texts(self, data: WorldImages, index: torch.Tensor, generator: torch.Generator) -> list[str]:
        """A random phrasing per image, with its view suffix most of the time, or '' (dropout)."""
        u = torch.rand(len(index), 2, generator=generator)
        cams = data.cameras[index]
        views = self.rule.names(cams[:, 0], cams[:, 1])
        out = []
        for i, obj_index in enumerate(data.object_index[index].tolist()):
            variants = caption_variants(data.objects[obj_index])
            text = variants[int(u[i, 0] * 1e6) % len(variants)]
            if u[i, 1] < self.config.view_suffix_prob:
                text += view_suffix(views[i])
            out.append(text)
        drop = torch.rand(len(index), generator=generator) < self.config.condition_dropout
        return ["" if d else text for d, text in zip(drop.tolist(), out)]

    def loss(self, modules, data, index, x_t, t, target, generator):
        ids, mask = self.tokenizer(self.texts(data, index, generator))
        pooled = modules["text_encoder"](ids, mask)[1]
        c = data.cameras[index]
        cams = camera_features(c[:, 0], c[:, 1], c[:, 2], c[:, 3], self.camera)
        cams = cams * (torch.rand(len(index), 1, generator=generator) >= self.config.camera_dropout)
        labels = torch.cat([pooled, cams], -1)
        tokens = labels.new_zeros(len(index), 1, labels.shape[-1])
        inputs = torch.cat([x_t, ray_map(cams, x_t.shape[-1], self.camera)], 1)
        return prediction_loss(modules["unet"](inputs, t, encoder_hidden_states=tokens, class_labels=labels).sample,
                               target, data.detail_weights(index, self.config.detail_weight))

    @torch.no_grad()
    def sample_grid(self, modules, data, generator):
        """Per grid caption: truth renders over an orbit, then samples for the same cameras (CFG 3)."""
        from ..sampling import sample

        prior = self.prior(modules)
        cams = make_cameras(15.0, torch.tensor(GRID_AZIMUTHS), 2.4, 42.5, self.config.image_size, self.config.image_size)
        rows = []
        for caption in GRID_CAPTIONS:
            truth = composite(render(object_from_caption(caption), cams, self.config.shading), (1.0, 1.0, 1.0))
            samples = sample(prior, prior.condition(caption, cams), len(cams), guidance_scale=1.0, generator=generator)
            rows += [truth, samples.permute(0, 2, 3, 1)]
        return rows

    def save(self, modules, folder: Path) -> None:
        self.prior(modules).save_pretrained(folder)

