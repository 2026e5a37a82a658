"""The run configuration: one typed dataclass tree, filled from a YAML preset plus ``key.path=value``
overrides, frozen and saved beside the run's outputs as ``config.yaml``.

Each part's config lives with its code (cameras, geometry, renderer, material, background, SDS, losses);
this module assembles them. A stage fixes representation, resolution, steps and prior settings; a run
is an ordered list of stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from .config_io import ConfigError, apply_overrides, build, load_yaml
from .data.cameras import CameraConfig
from .data.reference_image import ImageConfig
from .geometry.dmtet import DMTetConfig
from .geometry.implicit_volume import ImplicitVolumeConfig
from .losses import LossConfig
from .priors.sds import SDSConfig
from .renderers.background import BackgroundConfig
from .renderers.material import MaterialConfig
from .renderers.volume import RendererConfig
from .schedule import Schedule


@dataclass
class PriorConfig:
    # "auto": the embedded default; "diffusers": a diffusers folder or hub id in ``path``;
    # "exact-denoiser": the exact denoiser over renders of the prompt's procedural-world object.
    kind: str = "auto"
    path: str = ""
    # kind auto/mini without a path: the prior shipped under threestudio_lite/assets/priors/<shipped>
    # ("" = "text", or "view" for image-to-3D's view prior).
    shipped: str = ""
    negative_prompt: str = ""
    view_dependent: bool = True
    # Text priors: Perp-Neg guidance against the Janus problem (view embeddings interpolated by azimuth,
    # the other views' guidance applied perpendicular to the prompt's); costs two more UNet branches.
    perp_neg: bool = False
    # Diffusers backends: compute attention in slices (less GPU memory, a little slower).
    attention_slicing: bool = False
    # Diffusers backends: keep the text / image encoder in CPU memory, moving it to the device only to embed
    # (embeddings are cached, so it runs a handful of times; DeepFloyd IF's T5-XXL alone is ~9 GB in fp16).
    cpu_offload: bool = False
    # Zero-1-to-3 backends: "zero123" (Zero-1-to-3, Zero123-XL) or "stable-zero123" camera conditioning.
    pose_convention: str = "zero123"


@dataclass
class OptimizerConfig:
    """AdamW; one learning rate per parameter group."""

    lr_grid: float = 0.03
    lr_mlp: float = 0.005
    lr_background: float = 0.005
    # Mesh stages: DMTet's signed values and vertex offsets (0 freezes the shape: texture-only refinement).
    lr_shape: float = 0.005
    betas: tuple[float, float] = (0.9, 0.99)
    eps: float = 1e-15
    weight_decay: float = 0.0


@dataclass
class StageConfig:
    name: str = "coarse"
    representation: str = "nerf"
    steps: int = 600
    # Render side length in pixels (a schedule allows coarse-to-fine resolution within the stage).
    resolution: Schedule = 32.0
    # Image-to-3D: side of the reference view rendered each step for its colour and mask losses.
    reference_resolution: Schedule = 64.0
    batch_size: int = 4
    # Distil directly in a latent diffusion model's latent space (threestudio's rgb_as_latents, Latent-NeRF):
    # the field's colour holds 4 latent channels, rendered unlit over the latent of a white background and
    # fed to the UNet without the VAE. Needs a Stable Diffusion prior and an RGB stage after it.
    latent_renders: bool = False
    geometry: ImplicitVolumeConfig = field(default_factory=ImplicitVolumeConfig)
    # representation "mesh": the DMTet surface (its texture field is ``geometry``'s grid and albedo head).
    dmtet: DMTetConfig = field(default_factory=DMTetConfig)
    renderer: RendererConfig = field(default_factory=RendererConfig)
    material: MaterialConfig = field(default_factory=MaterialConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    guidance: SDSConfig = field(default_factory=SDSConfig)
    # Image-to-3D with a prompt: the text prior's SDS on its own random views (weighted by loss.sds_text).
    text_guidance: SDSConfig = field(default_factory=SDSConfig)
    # Text-to-3D: the normal prior's SDS on the same random views' normal maps (weighted by loss.sds_normal).
    normal_guidance: SDSConfig = field(default_factory=SDSConfig)
    # How many of each step's views get that normal SDS (0: all): the normal prior's guided UNet pass costs in
    # proportion to its batch.
    normal_views: int = 0
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass
class TrainerConfig:
    val_every: int = 200
    val_views: int = 8
    val_resolution: int = 64
    checkpoint_every: int = 100
    progress_bar: bool = True


@dataclass
class ExportConfig:
    formats: list[str] = field(default_factory=lambda: ["glb", "obj"])
    # A NeRF's surface: "marching-cubes" at density ``isosurface_density`` on an ``mc_resolution``³ grid (enclosed
    # empty space filled first), or "silhouette": the density level whose silhouettes match the NeRF's renders,
    # chosen by marching tetrahedra on a ``surface_resolution``³ grid (geometry/surface_level.py) and meshed as
    # ``silhouette_mesher`` says.
    surface: Literal["marching-cubes", "silhouette"] = "marching-cubes"
    mc_resolution: int = 128
    isosurface_density: float = 2.0
    surface_resolution: int = 48
    # How "silhouette" meshes the level it chose: on that ``surface_resolution``³ tetrahedral grid, or by marching
    # cubes on the finer ``mc_resolution``³ grid (a tetrahedral grid thickens walls thinner than two of its cells).
    silhouette_mesher: Literal["tetrahedra", "marching-cubes"] = "tetrahedra"
    # Keep connected components with at least this fraction of the largest one's faces.
    min_component_fraction: float = 0.05
    # UV-unwrap (xatlas) and bake the albedo into a texture with a PBR material, instead of vertex colours.
    uv_texture: bool = False
    texture_size: int = 1024
    # Texels of colour padding around each UV island, so mipmapping and filtering do not bleed across seams.
    texture_padding: int = 4
    turntable_frames: int = 48
    turntable_resolution: int = 96
    turntable_fps: int = 24


@dataclass
class RunConfig:
    system: str = "text-to-3d"
    # Image-to-3D: a caption of the pictured object for the text prior's SDS beside the view prior's (Magic123);
    # "auto" (the zero123 preset's) recognises it among the embedded text prior's captions (priors/recognize.py).
    prompt: str = ""
    # The input picture of image-to-3d (unused by text-to-3d).
    image: ImageConfig = field(default_factory=ImageConfig)
    seed: int = 0
    device: str = "auto"  # "auto" picks CUDA when present, else CPU
    prior: PriorConfig = field(default_factory=PriorConfig)
    # Image-to-3D: the text prior used with a prompt (``prior`` is then the view-conditioned one).
    text_prior: PriorConfig = field(default_factory=PriorConfig)
    # Text-to-3D: the geometry prior whose SDS the normal maps get when a stage weights loss.sds_normal (the
    # shipped one is the text prior trained on normal maps, README "The normal prior").
    normal_prior: PriorConfig = field(default_factory=lambda: PriorConfig(shipped="normal"))
    camera: CameraConfig = field(default_factory=CameraConfig)
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig()])
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


def preset_dir() -> Path:
    """Presets shipped with the package (``configs/`` in the source tree)."""
    return Path(str(resources.files("threestudio_lite") / "configs"))


def preset_names() -> list[str]:
    return sorted(p.stem for p in preset_dir().glob("*.yaml"))


def resolve_preset(name_or_path: str) -> Path:
    """A preset by name (``dreamfusion``) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    candidate = preset_dir() / f"{path.stem}.yaml"
    if candidate.is_file():
        return candidate
    raise ConfigError(f"unknown preset '{name_or_path}' (available: {', '.join(preset_names())}, or a path to a .yaml file)")


def load_config(preset: str, overrides: list[str] = ()) -> RunConfig:
    config = build(RunConfig, load_yaml(resolve_preset(preset)))
    config = apply_overrides(RunConfig, config, list(overrides)) if overrides else config
    check_stage_sequence(config.stages)
    return config


def check_stage_sequence(stages: list[StageConfig]) -> None:
    """Stage combinations the scenes cannot hand over between: a last stage rendering latents (the export bakes
    colour), and consecutive mesh stages on different tetrahedral grids (the surface carries over vertex by vertex)."""
    if stages and stages[-1].latent_renders:
        raise ConfigError(f"stages.{len(stages) - 1}.latent_renders: the last stage must render colour (the "
                          "export bakes its albedo); add an RGB stage after the latent one")
    for i in range(1, len(stages)):
        before, after = stages[i - 1], stages[i]
        if before.representation == after.representation == "mesh" and before.dmtet.resolution != after.dmtet.resolution:
            raise ConfigError(f"stages.{i}.dmtet.resolution: {after.dmtet.resolution} differs from the previous mesh "
                              f"stage's {before.dmtet.resolution}; consecutive mesh stages share one grid")


def load_saved_config(path: Path) -> RunConfig:
    return build(RunConfig, load_yaml(path))
