"""Image grids and plots written as PNG (atomically)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .io import atomic_path


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(..., C) float images in [0, 1] -> uint8 numpy."""
    return (images.detach().float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()


def grid(rows: list[torch.Tensor], columns: int = 1, together: int = 1) -> np.ndarray:
    """Rows of (N, H, W, 3) images -> one uint8 mosaic; with ``columns`` > 1 the rows are laid out in that many
    side-by-side blocks (white gap between), never splitting a run of ``together`` rows (e.g. truth/sample pairs)."""
    strips = [np.concatenate(list(to_uint8(r)), axis=1) for r in rows]
    per_block = -(-len(strips) // (columns * together)) * together
    blocks = [np.concatenate(strips[i : i + per_block], axis=0) for i in range(0, len(strips), per_block)]
    height = max(b.shape[0] for b in blocks)
    padded = []
    for b in blocks:
        b = np.pad(b, ((0, height - b.shape[0]), (0, 0), (0, 0)), constant_values=255)
        padded += [b, np.full((height, 8, 3), 255, np.uint8)]
    return np.concatenate(padded[:-1], axis=1)


def save_png(array: np.ndarray, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def save_image(image: torch.Tensor, path: str | Path) -> Path:
    """Write an RGB or RGBA float image (H, W, 3|4) in [0, 1] as an 8-bit PNG, atomically."""
    save_png(np.ascontiguousarray(to_uint8(torch.as_tensor(image))), path)
    return Path(path)


def save_curves(curves: dict[str, list[float]], path: str | Path, title: str) -> None:
    """Plot named series (one panel each, log scale where positive) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, v in curves.items() if len(v)]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        values = np.asarray(curves[name], dtype=float)
        ax.plot(values, lw=0.6, alpha=0.4)
        k = max(1, len(values) // 50)
        if len(values) >= k:
            smooth = np.convolve(values, np.ones(k) / k, mode="valid")
            ax.plot(np.arange(len(smooth)) + k - 1, smooth, lw=1.5)
        if (values > 0).all():
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("step")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
