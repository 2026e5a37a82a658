"""The procedural world: objects with exact SDFs and colours (training data for the mini priors and ground truth
for evaluation), their captions, a sphere-tracing renderer and ground-truth metrics."""

from .captions import (
    all_captions,
    canonical_caption,
    caption_variants,
    caption_with_view,
    object_from_caption,
)
from .metrics import (
    chamfer_distance,
    color_error,
    front_marker_check,
    mask_iou,
    mesh_occupancy,
    psnr,
    volumetric_iou_field,
    volumetric_iou_mesh,
)
from .objects import (
    COLORS,
    COMPOSITES,
    SIMPLE_SHAPES,
    SIZES,
    Part,
    WorldObject,
    all_objects,
    composite_object,
    grid_points,
    simple_object,
    surface_mesh,
)
from .render import composite, render, render_caption_to_png, render_many

__all__ = [
    "COLORS", "COMPOSITES", "SIMPLE_SHAPES", "SIZES", "Part", "WorldObject", "all_captions", "all_objects",
    "canonical_caption", "caption_variants", "caption_with_view", "chamfer_distance", "color_error", "composite",
    "composite_object", "front_marker_check", "grid_points", "mask_iou", "mesh_occupancy", "object_from_caption",
    "psnr", "render", "render_caption_to_png", "render_many", "simple_object", "surface_mesh",
    "volumetric_iou_field", "volumetric_iou_mesh",
]
