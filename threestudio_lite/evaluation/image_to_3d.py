"""``threestudio-lite eval image-to-3d``: the image-to-3D system on pictures of world objects.

Each case gives the camera its picture was taken from; the run is told that camera (``--elevation``,
``--azimuth``), so the result sits in the truth's frame up to the input preprocessing, which magnified
the object by k and moved its bounding-box centre to the frame centre. That is undone as the similarity
X_truth = X_result / k + Δ, Δ the shift in the reference camera's image plane at the object's depth (the
run's reference camera is the picture's, moved by the same similarity: data/reference_image.picture_camera).
A case may also give a ``"prompt"``: a caption for the text prior's guidance (``--prompt``)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..data.cameras import Cameras, make_cameras
from ..data.reference_image import camera_similarity
from ..world.captions import object_from_caption
from ..world.metrics import mask_iou, psnr
from ..world.render import composite, render
from .harness import SCORE_KEYS, evaluate, read_cases
from .scoring import load_mesh, score_mesh

IMAGE_SCORE_KEYS = (*SCORE_KEYS, "psnr", "mask_iou", "ref_psnr")
HELD_OUT_SIZE = 64


def read_image_cases(path: Path) -> list[dict]:
    """Cases with image paths made absolute (relative paths are relative to the cases file)."""
    cases = read_cases(path, ("image", "truth", "elevation", "azimuth"))
    for case in cases:
        image = Path(case["image"])
        case["image"] = str(image if image.is_absolute() else (path.parent / image).resolve())
    return cases


def result_similarity(config, reference: dict) -> tuple[float, torch.Tensor]:
    """(k, Δ) with X_result = k (X_truth - Δ), from a run's image config and metrics["reference"]."""
    return camera_similarity(config.image, reference["magnification"], reference["center"], reference["input_size"])


def held_out_cameras(elevation: float, azimuth: float) -> Cameras:
    """8 views around the truth, none at the reference: azimuths offset by 22.5° + 45° i, elevations 0 and 30."""
    azimuths = torch.tensor([azimuth + 22.5 + 45.0 * i for i in range(8)])
    elevations = torch.tensor([0.0, 30.0] * 4)
    return make_cameras(elevations, azimuths, 2.4, 42.5, HELD_OUT_SIZE, HELD_OUT_SIZE)


def score_image_case(case: dict, run_dir: Path) -> dict:
    """Mesh scores after undoing the preprocessing, and PSNR / mask IoU of the NeRF on held-out views."""
    from ..runs import load_finished_scene

    metrics = json.loads((run_dir / "metrics.json").read_text())
    config, scene = load_finished_scene(run_dir)
    k, delta = result_similarity(config, metrics["reference"])
    obj = object_from_caption(case["truth"])
    mesh = load_mesh(run_dir / "export" / "model.glb")
    mesh.vertices = mesh.vertices / k + delta.numpy()
    scores = score_mesh(mesh, obj)

    truth_cams = held_out_cameras(float(case["elevation"]), float(case["azimuth"]))
    ours_cams = truth_cams.in_similar_frame(k, delta)  # the same views of the result, in its frame
    with torch.no_grad():
        ours = scene.render(ours_cams, ["lambertian"] * len(ours_cams), progress=1.0)
    truth = render(obj, truth_cams)
    scores["psnr"] = round(psnr(ours["rgb"].clamp(0, 1), composite(truth, (1.0, 1.0, 1.0))), 3)
    scores["mask_iou"] = round(mask_iou(ours["opacity"][..., 0], truth[..., 3]), 4)
    scores["ref_psnr"] = metrics["ref_psnr"]
    return scores


def eval_image_to_3d(cases_path: Path, out_dir: Path, preset: str, overrides: list[str], log=print) -> dict:
    cases = read_image_cases(cases_path)

    def command(case: dict, run_dir: Path) -> list[str]:
        return ["image-to-3d", case["image"], "--out", str(run_dir), "--overwrite", "--config", preset,
                "--elevation", str(case["elevation"]), "--azimuth", str(case["azimuth"]),
                "--seed", str(case.get("seed", 0)), "--no-progress",
                *(["--prompt", case["prompt"]] if "prompt" in case else []), *overrides]

    return evaluate(cases, out_dir, command, log, score_case=score_image_case, score_keys=IMAGE_SCORE_KEYS)
