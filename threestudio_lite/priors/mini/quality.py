"""Sample-quality checks of the mini priors against the procedural world's truth.

Text prior: for each caption, samples are drawn for a few cameras (the prior is camera-conditioned) and
compared with truth renders of EVERY world object from the same cameras, each under several lights drawn from
the training light distribution (the prior is not told where the light is, so a sample may be lit from the
side). The caption is *recognised* when the nearest object (mean squared pixel error over the views, each view
under its best-matching light) has the captioned shape and colour.
Mask IoU and colour error against the captioned object are reported beside it, and for objects with a front
part (snowman, mug, house) whether each sample shows the object turned the way its camera says (*oriented*).
Samples are drawn without classifier-free guidance (scale 1): given caption and camera the image is nearly
determined, and guidance above ~2 extrapolates off the data (measured: samples turn into saturated blobs).
View prior: from a reference view of an object, samples at new cameras are compared with the truth
renders of those views (PSNR, mask IoU)."""

from __future__ import annotations

from dataclasses import replace

import torch

from ...data.cameras import CameraConfig, CameraSampler, make_cameras
from ...world.captions import canonical_caption, object_from_caption
from ...world.metrics import mask_iou, psnr
from ...world.objects import WorldObject, all_objects
from ...world.render import composite, render, render_many
from ..sampling import sample

WHITE = (1.0, 1.0, 1.0)


def foreground(images: torch.Tensor, threshold: float = 0.08) -> torch.Tensor:
    """Pixels (..., H, W) of images (..., H, W, 3) on white that differ from the background."""
    return (1.0 - images).amax(-1) > threshold


def mean_color_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference (over RGB) of the mean foreground colours of two image sets."""
    fa, fb = foreground(a), foreground(b)
    if not fa.any() or not fb.any():
        return 1.0
    return (a[fa].mean(0) - b[fb].mean(0)).abs().mean().item()


def identity(obj: WorldObject) -> tuple:
    return (obj.shape, obj.proportion, obj.color_name)


def candidate_renders(candidates: list[WorldObject], cams, lights: int = 1, seed: int = 0) -> torch.Tensor:
    """Truth renders (O, L, V, S, S, 3) of every candidate from every camera under ``lights`` point lights: the
    first at the camera, the rest drawn from the training light distribution (the prior is not told the light)."""
    positions = [cams.light_positions]
    sampler, generator = CameraSampler(CameraConfig()), torch.Generator().manual_seed(seed)
    positions += [sampler.lights(cams.positions, generator) for _ in range(lights - 1)]
    lit = [replace(cams, light_positions=p) for p in positions]
    per_light = []
    for c in lit:
        objects = [o for o in candidates for _ in range(len(c))]
        per_light.append(composite(render_many(objects, c[torch.arange(len(c)).repeat(len(candidates))]), WHITE))
    images = torch.stack(per_light, 1)  # (O*V, L, S, S, 3)
    return images.view(len(candidates), len(cams), lights, *images.shape[2:]).transpose(1, 2)


def orientation_hits(obj: WorldObject, images: torch.Tensor, elevation: float, azimuths, size: int) -> list[bool]:
    """Per view: whether the sample (V, S, S, 3) is closer to its object seen from the camera's azimuth than from
    that azimuth plus any other multiple of 45 degrees, i.e. whether the front part is where the camera says."""
    errors = []
    for offset in range(0, 360, 45):
        cams = make_cameras(elevation, torch.tensor(azimuths) + offset, 2.4, 42.5, size, size)
        errors.append(((composite(render(obj, cams), WHITE) - images) ** 2).mean((1, 2, 3)))
    return (torch.stack(errors).argmin(0) == 0).tolist()


def check_text_prior(prior, captions: list[str], azimuths=(30.0, 120.0, 210.0, 300.0), elevation: float = 15.0,
                     guidance_scale: float = 1.0, seed: int = 0, candidates: list[WorldObject] | None = None,
                     lights: int = 8) -> dict:
    size = prior.image_size
    cams = make_cameras(elevation, torch.tensor(azimuths), 2.4, 42.5, size, size)
    candidates = candidates or all_objects()
    truth = candidate_renders(candidates, cams, lights, seed)  # (O, L, V, S, S, 3)
    generator = torch.Generator().manual_seed(seed)
    cases, grids, oriented_views = [], [], []
    for caption in captions:
        obj = object_from_caption(caption)
        images = sample(prior, prior.condition(caption, cams), len(cams), guidance_scale=guidance_scale,
                        generator=generator).permute(0, 2, 3, 1).cpu()
        error = ((truth - images) ** 2).mean((3, 4, 5))  # (O, L, V)
        best_light = error.argmin(1)  # (O, V): each view matched under its best light
        nearest = candidates[int(error.min(1).values.mean(1).argmin())]
        k = candidates.index(obj)
        own = truth[k, best_light[k], torch.arange(len(cams))]
        if obj.front_part is not None:
            hits = orientation_hits(obj, images, elevation, azimuths, size)
            oriented_views += hits
        cases.append({
            "caption": caption,
            "recognised": identity(nearest) == identity(obj),
            "nearest": canonical_caption(nearest),
            "mask_iou": round(mask_iou(foreground(images).float(), foreground(own).float()), 3),
            "color_error": round(mean_color_error(images, own), 3),
            **({"oriented": round(sum(hits) / len(hits), 2)} if obj.front_part is not None else {}),
        })
        grids += [own, images]
    passed = sum(c["recognised"] for c in cases)
    oriented = round(sum(oriented_views) / len(oriented_views), 3) if oriented_views else None
    return {"cases": cases, "recognised": passed, "total": len(cases),
            "recognised_fraction": round(passed / max(1, len(cases)), 3), "oriented_fraction": oriented}, grids


def check_view_prior(prior, captions: list[str], reference_azimuth: float = 0.0, reference_elevation: float = 0.0,
                     azimuths=(60.0, 150.0, 240.0, 330.0), elevation: float = 15.0, guidance_scale: float = 1.0,
                     seed: int = 0) -> dict:
    from .view_prior import Reference

    size = prior.image_size
    ref_cam = make_cameras(reference_elevation, reference_azimuth, 2.4, 42.5, size, size)
    cams = make_cameras(elevation, torch.tensor(azimuths), 2.4, 42.5, size, size)
    generator = torch.Generator().manual_seed(seed)
    cases, grids = [], []
    for caption in captions:
        obj = object_from_caption(caption)
        ref_image = composite(render(obj, ref_cam), WHITE)[0]
        reference = Reference(ref_image.permute(2, 0, 1), reference_elevation, reference_azimuth, 2.4, 42.5)
        rgba = render(obj, cams)
        truth = composite(rgba, WHITE)
        images = sample(prior, prior.condition(reference, cams), len(cams), guidance_scale=guidance_scale,
                        generator=generator).permute(0, 2, 3, 1).cpu()
        cases.append({
            "caption": caption,
            "psnr": round(psnr(images, truth), 2),
            "mask_iou": round(mask_iou(foreground(images).float(), rgba[..., 3]), 3),
        })
        grids += [torch.cat([ref_image[None], truth]), torch.cat([ref_image[None], images])]
    n = max(1, len(cases))
    return {"cases": cases, "mean_psnr": round(sum(c["psnr"] for c in cases) / n, 2),
            "mean_mask_iou": round(sum(c["mask_iou"] for c in cases) / n, 3)}, grids


def text_check_captions() -> list[str]:
    """Captions spanning every simple shape form, every colour and size, and every composite object,
    avoiding the held-out combinations."""
    from ...world.objects import COLORS, COMPOSITES, SIMPLE_SHAPES, SIZES, composite_object, simple_object
    from .data import is_held_out

    forms = [(shape, prop) for shape, props in SIMPLE_SHAPES.items() for prop in props]
    colors, sizes = list(COLORS), list(SIZES)
    captions = []
    for i in range(2 * len(colors)):
        shape, prop = forms[i % len(forms)]
        for k in range(len(colors)):
            obj = simple_object(shape, colors[(i + k) % len(colors)], sizes[i % len(sizes)], prop)
            if not is_held_out(obj):
                captions.append(canonical_caption(obj))
                break
    return captions + [canonical_caption(composite_object(name)) for name in COMPOSITES]


def held_out_captions() -> list[str]:
    """One caption per held-out shape-colour combination (default size and proportion)."""
    from ...world.objects import simple_object
    from .data import HELD_OUT

    return [canonical_caption(simple_object(shape, color)) for shape, color in HELD_OUT]


def view_check_captions() -> list[str]:
    from ...world.objects import COMPOSITES, composite_object

    simple = ["a red cube", "a blue sphere", "a green torus", "a yellow cone", "a tall purple cylinder",
              "a small orange pyramid", "a large pink capsule"]
    return simple + [canonical_caption(composite_object(name)) for name in COMPOSITES]
