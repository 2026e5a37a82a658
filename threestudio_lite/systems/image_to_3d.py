"""Image-to-3D (Zero-1-to-3 style): SDS from the view-conditioned prior on random views around the
object, plus colour and mask losses that make the reference view reproduce the input picture; with a prompt
(given, or recognised by the embedded text prior), also the text prior's SDS on views placed in its frame (Magic123)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import RunConfig, StageConfig
from ..data.cameras import Cameras, make_cameras
from ..data.reference_image import ReferenceImage, load_reference_image, picture_camera
from ..errors import UserError
from ..geometry.implicit_volume import ImplicitVolume
from ..priors.base import TextPrior
from ..priors.loading import load_prior, load_view_prior
from ..priors.mini.text_prior import MiniTextPrior
from ..priors.mini.view_prior import Reference
from ..priors.recognize import Alignment, align, recognise
from ..priors.sds import sds_loss
from ..schedule import ever_positive, value_at
from ..world.captions import all_captions
from .distillation import DistillationSystem


def downsample(image: torch.Tensor, size: int) -> torch.Tensor:
    """(C, S, S) -> (C, size, size), antialiased."""
    if image.shape[-1] == size:
        return image
    return F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]


def uses_text_prior(config: RunConfig) -> bool:
    """A prompt is set and some stage weights the text prior's SDS above zero."""
    return bool(config.prompt.strip()) and any(ever_positive(stage.loss.sds_text) for stage in config.stages)


class ImageTo3D(DistillationSystem):
    def __init__(self, config: RunConfig, prior, reference: ReferenceImage, text_prior: TextPrior | None = None):
        super().__init__(config, prior)
        self.image = reference
        self.text_prior: TextPrior | None = text_prior
        self.alignment: Alignment | None = None  # set by create() once the text prior is loaded
        self._targets: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        c = config.image
        self.reference = Reference(reference.rgb, c.elevation, c.azimuth, c.distance, c.fovy)
        self._picture_camera = picture_camera(c, *reference.camera_similarity(c), size=1)  # resized per render

    @classmethod
    def create(cls, config: RunConfig, device: torch.device) -> "ImageTo3D":
        """Read and preprocess the input picture, load the view-conditioned prior and, with a prompt, the text
        prior and its alignment to the picture."""
        reference = load_reference_image(config.image)
        prior = load_view_prior(config.prior, device)
        if not uses_text_prior(config):
            return cls(config, prior, reference)
        text_prior = load_prior(config.text_prior, config.prompt, config.camera, device)
        system = cls(config, prior, reference, text_prior)
        system.alignment = found = system.align_text_prior()
        recognised = config.prompt.strip() == "auto"
        print(f"text prior: {'recognised' if recognised else 'caption'} {found.caption!r}, placed at scale "
              f"{found.scale:.3f}, offset {[round(v, 3) for v in found.offset]}"
              + (' (--prompt "" for an object the procedural world does not hold)' if recognised else ""), flush=True)
        return system

    def align_text_prior(self) -> Alignment:
        """The caption (the prompt, or the recognised one for "auto") and, for a camera-conditioned prior, the
        scale and offset that place the picture's object as that prior's training renders place it."""
        prompt = self.config.prompt.strip()
        camera_conditioned = isinstance(self.text_prior, MiniTextPrior)
        if prompt != "auto" and not camera_conditioned:
            return Alignment(prompt)
        if not camera_conditioned:
            raise UserError(f"prompt=auto recognises the object with the embedded text prior; with "
                            f"{self.text_prior.description}, give the caption (--prompt)")
        size = self.text_prior.image_size
        c = self.config.image
        camera = make_cameras(c.elevation, c.azimuth, c.distance, c.fovy, size, size)
        # The embedded text prior's captions: one per object of the procedural world it was trained on.
        captions = all_captions() if prompt == "auto" else [prompt]
        generator = torch.Generator().manual_seed(self.config.seed)
        rgba = self.image.rgba().permute(2, 0, 1)
        if c.text_prior_placement == "search":
            return align(self.text_prior, rgba, camera, captions, generator)
        scale, offset = self.image.camera_similarity(c)
        return recognise(self.text_prior, rgba, camera, captions, generator, scale, tuple(offset.tolist()))

    def build_scene(self, index: int, previous: torch.nn.Module | None) -> torch.nn.Module:
        """As every system's; a first NeRF stage's colour head starts at the picture's mean object colour
        (``image.albedo_start``), so what the picture does not show starts as the object's colour, not gray."""
        scene = super().build_scene(index, previous)
        geometry = getattr(scene, "geometry", None)
        if previous is None and self.config.image.albedo_start == "picture" and isinstance(geometry, ImplicitVolume) \
                and geometry.config.color_activation == "sigmoid":
            geometry.set_start_albedo(self.image.mean_object_color())
        return scene

    def reference_camera(self, size: int) -> Cameras:
        """The camera the picture is taken from, in the recentred frame, light at the camera (as `world render`
        lights its images)."""
        return self._picture_camera.with_resolution(size, size)

    def condition(self, cameras: Cameras):
        return self.prior.condition(self.reference, cameras)

    def reference_targets(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Input colour (size, size, 3) on white and mask (size, size, 1) at a render size (made once per size)."""
        if size not in self._targets:
            self._targets[size] = (downsample(self.image.rgb, size).permute(1, 2, 0),
                                   downsample(self.image.mask[None], size).permute(1, 2, 0))
        return self._targets[size]

    def extra_losses(self, scene, stage: StageConfig, step: int, progress: float, generator: torch.Generator,
                     cams: Cameras, views: dict):
        size = max(8, round(value_at(stage.reference_resolution, progress)))
        out = scene.render(self.reference_camera(size), ["lambertian"], progress, generator=generator)
        rgb, mask = self.reference_targets(size)
        terms = {
            "ref_rgb": (value_at(stage.loss.ref_rgb, progress), F.mse_loss(out["rgb"][0], rgb.to(out["rgb"]))),
            "ref_mask": (value_at(stage.loss.ref_mask, progress), F.mse_loss(out["opacity"][0], mask.to(out["rgb"]))),
        }
        weight = value_at(stage.loss.sds_text, progress)
        if self.text_prior is not None and weight > 0:
            text_cams, text_views = self.random_views(scene, stage, step, progress, generator,
                                                      place=self.alignment.scene_cameras)
            cond = self.text_prior.condition(self.alignment.caption, text_cams, self.config.text_prior.negative_prompt)
            sds, _ = sds_loss(self.text_prior, text_views["rgb"].permute(0, 3, 1, 2), cond, stage.text_guidance,
                              progress, generator)
            terms["sds_text"] = (weight, sds)
        return terms

    @torch.no_grad()
    def report(self, scene, run_dir) -> dict:
        """The reference view's PSNR against the preprocessed input (64x64), the preprocessing (to align
        the result with a known truth), and ``reference.png``: the input as the optimizer saw it."""
        from ..utils.images import save_image
        from ..world.metrics import psnr

        save_image(self.image.rgba(), run_dir / "reference.png")
        out = scene.render(self.reference_camera(64), ["lambertian"], progress=1.0)
        return {
            "image": self.config.image.path,
            "ref_psnr": round(psnr(out["rgb"][0].cpu(), self.reference_targets(64)[0]), 3),
            "text_prior": None if self.alignment is None else self.alignment.as_dict(),
            "reference": {"magnification": self.image.magnification(), "center": list(self.image.center),
                          "input_size": list(self.image.input_size)},
        }
