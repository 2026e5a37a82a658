"""How exact must a shape be for the image-to-3D held-out PSNR target? The truth itself, slightly moved, scored.

    python benchmarks/held_out_error_budget.py [CASES.jsonl]    # default: benchmarks/image_to_3d_cases.jsonl

For every case, the truth object is rendered from the eval's 8 held-out views (the `eval image-to-3d` cameras
and renderer) once in place and once shifted sideways by 0.015 / 0.03 (half / one pixel at 64x64; a quarter /
half of a pixel of the 32x32 priors) or scaled by 2% / 4%, and the moved renders are scored against the
unmoved ones with the eval's PSNR. No training: this is the error budget a result has to stay within."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from threestudio_lite.evaluation.image_to_3d import held_out_cameras, read_image_cases
from threestudio_lite.world.captions import object_from_caption
from threestudio_lite.world.metrics import psnr
from threestudio_lite.world.render import composite, render

# (name, scale k, offset Δ): the truth seen as X -> k (X - Δ), the frame map the eval uses for results.
MOVES = (
    ("shift 0.015", 1.0, (0.015, 0.0, 0.0)),
    ("shift 0.03", 1.0, (0.03, 0.0, 0.0)),
    ("scale 1.02", 1.02, (0.0, 0.0, 0.0)),
    ("scale 1.04", 1.04, (0.0, 0.0, 0.0)),
)


def moved_truth_psnr(case: dict) -> dict[str, float]:
    """Held-out PSNR of the truth under each of MOVES."""
    obj = object_from_caption(case["truth"])
    cameras = held_out_cameras(float(case["elevation"]), float(case["azimuth"]))
    truth = composite(render(obj, cameras), (1.0, 1.0, 1.0))
    scores = {}
    for name, k, delta in MOVES:
        moved = composite(render(obj, cameras.in_similar_frame(k, torch.tensor(delta))), (1.0, 1.0, 1.0))
        scores[name] = psnr(moved, truth)
    return scores


def main() -> None:
    cases_path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "image_to_3d_cases.jsonl")
    rows = [(Path(case["image"]).stem, moved_truth_psnr(case)) for case in read_image_cases(cases_path)]
    print(f"| case | {' | '.join(name for name, _, _ in MOVES)} |")
    print(f"|---|{'---|' * len(MOVES)}")
    for stem, scores in rows:
        print(f"| {stem} | {' | '.join(f'{scores[name]:.1f}' for name, _, _ in MOVES)} |")
    means = [sum(scores[name] for _, scores in rows) / len(rows) for name, _, _ in MOVES]
    print(f"| **mean** | {' | '.join(f'**{m:.1f}**' for m in means)} |")


if __name__ == "__main__":
    main()
