"""The input of image-to-3D: one picture of an object, its mask, and the camera it is seen from.

The mask is the alpha channel when the file has one; otherwise the background is estimated from the
image border (the median border colour; pixels farther than ``background_threshold`` from it in RGB are
foreground, holes filled, the largest connected piece kept), or given as a separate mask file.
As Zero-1-to-3 does, the object is then recentred and rescaled so that the longer side of its bounding
box spans ``foreground_ratio`` of a square frame, composited on white."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .cameras import Cameras, image_plane, make_cameras, spherical_to_position


@dataclass
class ImageConfig:
    path: str = ""
    # Optional mask file (white = object); overrides the alpha channel and the border estimate.
    mask: str = ""
    # The reference camera: where the picture is assumed to be taken from (world convention, degrees).
    elevation: float = 0.0
    azimuth: float = 0.0
    distance: float = 2.4
    fovy: float = 42.5
    # Longer side of the object's bounding box as a fraction of the frame (Zero-1-to-3 uses 0.8; the
    # embedded view prior's training renders have a median of 0.81).
    foreground_ratio: float = 0.8
    # Side of the stored square reference image.
    size: int = 128
    background_threshold: float = 0.1
    # Where the text prior's frame is (image-to-3D with a prompt): "camera" trusts distance and fovy above, so
    # undoing the recentring shows the object at its size in the world, as the text prior's training renders do;
    # "search" finds size and origin from the picture (priors/recognize.py), for a camera distance not known.
    text_prior_placement: Literal["camera", "search"] = "camera"
    # The albedo the field starts with where nothing pulls it yet (e.g. sides the picture does not show): "picture"
    # is the picture's mean object colour, "gray" the colour head's neutral 0.5.
    albedo_start: Literal["picture", "gray"] = "picture"


@dataclass
class ReferenceImage:
    """The preprocessed input: rgb (3, S, S) on white, mask (S, S) in [0, 1], and the similarity that maps
    input pixels to it (``scale``: output pixels per input pixel; ``center``: the input pixel (x, y)
    that lands on the frame centre; ``input_size``: (height, width) of the input)."""

    rgb: torch.Tensor
    mask: torch.Tensor
    scale: float
    center: tuple[float, float]
    input_size: tuple[int, int]

    def magnification(self) -> float:
        """How much larger the object appears than in the input, at equal output resolution."""
        return self.scale * self.input_size[0] / self.rgb.shape[-1]

    def mean_object_color(self) -> torch.Tensor:
        """Mean colour (3,) of the object's pixels, weighted by the mask."""
        return (self.rgb * self.mask).sum((1, 2)) / self.mask.sum().clamp_min(1e-6)

    def rgba(self) -> torch.Tensor:
        """(S, S, 4) in [0, 1]."""
        return torch.cat([self.rgb.permute(1, 2, 0), self.mask[..., None]], -1)

    def camera_similarity(self, config: ImageConfig) -> tuple[float, torch.Tensor]:
        """(k, Δ) with X_recentred = k (X_camera - Δ): the scene the picture shows after recentring, in the frame
        of the scene the configured camera saw."""
        return camera_similarity(config, self.magnification(), self.center, self.input_size)


def camera_similarity(config: ImageConfig, magnification: float, center, input_size) -> tuple[float, torch.Tensor]:
    """(k, Δ) with X_recentred = k (X_camera - Δ): recentring magnified the object by k and moved its bounding-box
    centre (input pixel ``center``) to the frame centre, Δ being that move in the camera's image plane at the
    look-at point's depth."""
    height, width = input_size
    cx, cy = center
    half, right, up = image_plane(make_cameras(config.elevation, config.azimuth, config.distance, config.fovy, 8, 8))
    world_per_pixel = 2.0 * half / height
    return float(magnification), world_per_pixel * ((cx - width / 2.0) * right - (cy - height / 2.0) * up)


def picture_camera(config: ImageConfig, scale: float, offset: torch.Tensor, size: int) -> Cameras:
    """The camera that took the picture, moved into the recentred frame X -> scale (X - offset) and zoomed as the
    recentring zoomed the picture (focal length times ``scale``), turned to the origin where the crop shifted its
    centre (a turn of a few degrees): it sees the recentred object as the preprocessed input shows it, at every
    depth, where the unmoved camera only matches at the look-at point's depth (off by ~5% on a cube's front face)."""
    eye = scale * (spherical_to_position(config.elevation, config.azimuth, config.distance) - offset)
    distance = float(eye.norm())
    elevation = math.degrees(math.asin(float(eye[2]) / distance))
    azimuth = math.degrees(math.atan2(float(eye[1]), float(eye[0])))
    fovy = 2.0 * math.degrees(math.atan(math.tan(math.radians(config.fovy) / 2.0) / scale))
    return make_cameras(elevation, azimuth, distance, fovy, size, size)


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3 or 4) float array in [0, 1]; UserError for a missing or unreadable file."""
    import imageio.v3 as iio

    if not path.exists():
        raise UserError(f"image {path} does not exist")
    if not path.is_file():
        raise UserError(f"image {path} is not a file")
    try:
        array = np.asarray(iio.imread(path))
    except Exception as e:  # every decoder failure means the same thing to the user
        raise UserError(f"cannot read {path} as an image ({type(e).__name__})") from None
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, -1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4) or min(array.shape[:2]) < 2:
        raise UserError(f"{path} is not an RGB or RGBA picture (array of shape {array.shape})")
    scale = 65535.0 if array.dtype == np.uint16 else 255.0 if array.dtype == np.uint8 else 1.0
    return np.clip(array.astype(np.float32) / scale, 0.0, 1.0)


def border_mask(rgb: np.ndarray, threshold: float) -> np.ndarray:
    """Foreground estimate of a picture without alpha: far from the median border colour, holes filled,
    largest connected piece."""
    from scipy import ndimage

    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    background = np.median(border, axis=0)
    fg = np.linalg.norm(rgb - background, axis=-1) > threshold
    labels, count = ndimage.label(fg)
    if count == 0:
        return fg.astype(np.float32)
    sizes = ndimage.sum(fg, labels, index=np.arange(1, count + 1))
    largest = labels == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(largest).astype(np.float32)


def load_reference_image(config: ImageConfig) -> ReferenceImage:
    """Read, mask, recentre and rescale the input picture of ``config`` (UserError on bad input)."""
    if not config.path:
        raise UserError("no input image given")
    if not 0.05 <= config.foreground_ratio <= 1.0:
        raise UserError(f"foreground_ratio must be in [0.05, 1], got {config.foreground_ratio}")
    array = read_image(Path(config.path))
    rgb = array[..., :3]
    if config.mask:
        mask_array = read_image(Path(config.mask))
        if mask_array.shape[:2] != rgb.shape[:2]:
            raise UserError(f"mask {config.mask} is {mask_array.shape[1]}x{mask_array.shape[0]}, "
                            f"the image {rgb.shape[1]}x{rgb.shape[0]}")
        mask = mask_array[..., 3] if mask_array.shape[-1] == 4 else mask_array[..., :3].mean(-1)
    elif array.shape[-1] == 4:
        mask = array[..., 3]
    else:
        mask = border_mask(rgb, config.background_threshold)
    ys, xs = np.nonzero(mask > 0.5)
    if len(ys) == 0:
        raise UserError(f"{config.path}: the object mask is empty (no pixel is foreground)")
    center = ((xs.min() + xs.max() + 1) / 2.0, (ys.min() + ys.max() + 1) / 2.0)
    extent = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    scale = config.size * config.foreground_ratio / extent
    rgba = torch.from_numpy(np.concatenate([rgb * mask[..., None], mask[..., None]], -1)).permute(2, 0, 1)
    out = resample(rgba, center, scale, config.size)  # premultiplied colour: edges blend correctly
    alpha = out[3].clamp(0.0, 1.0)
    on_white = (out[:3] + (1.0 - alpha)).clamp(0.0, 1.0)
    return ReferenceImage(on_white, alpha, scale, center, (array.shape[0], array.shape[1]))


def resample(image: torch.Tensor, center: tuple[float, float], scale: float, size: int) -> torch.Tensor:
    """(C, H, W) -> (C, size, size): input pixel ``center`` to the frame centre, ``scale`` output pixels per
    input pixel, zero outside; antialiased by prefiltering when shrinking."""
    if scale < 1.0:
        factor = max(1, math.floor(1.0 / scale))
        if factor > 1:
            image = F.avg_pool2d(image[None], factor, ceil_mode=True)[0]
            center = (center[0] / factor, center[1] / factor)
            scale = scale * factor
    C, H, W = image.shape
    out_pixels = torch.arange(size, dtype=torch.float32) + 0.5
    src = (out_pixels - size / 2.0) / scale  # offsets from the centre in input pixels
    gx = (center[0] + src) / W * 2.0 - 1.0
    gy = (center[1] + src) / H * 2.0 - 1.0
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
    return F.grid_sample(image[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
