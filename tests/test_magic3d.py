"""The Magic3D preset end to end (coarse NeRF -> DMTet shape and texture -> texture alone), and the UV-textured exports."""

import json

import numpy as np
import pytest
import torch
import trimesh

from threestudio_lite.export.texture import textured_mesh
from threestudio_lite.export.writers import write_mesh

TINY = [
    "stages.0.resolution=16", "stages.0.batch_size=2", "stages.0.renderer.num_samples=24",
    "stages.0.renderer.occupancy_resolution=16", "stages.0.geometry.resolutions=[8, 12, 16]",
    "stages.0.geometry.active_levels=3",
    "stages.1.resolution=24", "stages.1.batch_size=2", "stages.1.geometry.resolutions=[8, 12, 16]",
    "stages.1.geometry.active_levels=3", "stages.1.dmtet.resolution=16",
    "stages.2.resolution=24", "stages.2.batch_size=2", "stages.2.geometry.resolutions=[8, 12, 16]",
    "stages.2.geometry.active_levels=3", "stages.2.dmtet.resolution=16",
    "trainer.val_every=4", "trainer.val_views=2", "trainer.val_resolution=16", "export.turntable_frames=2",
    "export.turntable_resolution=16", "export.texture_size=128",
]


def test_magic3d_preset_exports_a_watertight_textured_pbr_glb_and_obj(tiny_text_prior_dir, tmp_path):
    from test_runs import cli

    out = tmp_path / "run"
    # The coarse and texture stages distil with VSD (each stage gets its own LoRA), the geometry stage with SDS.
    cli("text-to-3d", "a red cube", "--config", "magic3d", "--out", out, "--steps", 6, "--no-progress",
        "prior.kind=diffusers", f"prior.path={tiny_text_prior_dir}", *TINY, "stages.0.guidance.mode=vsd",
        "stages.2.guidance.mode=vsd")
    metrics = json.loads((out / "metrics.json").read_text())
    assert [s["name"] for s in metrics["stages"]] == ["coarse", "geometry", "texture"]
    assert sorted({p.name.split("-step")[0] for p in (out / "val").glob("stage[12]-*.png")}) == ["stage1-geometry",
                                                                                                "stage2-texture"]

    glb = trimesh.load(out / "export" / "model.glb", force="mesh")
    material = glb.visual.material
    assert isinstance(glb.visual, trimesh.visual.TextureVisuals) and glb.visual.uv.shape == (len(glb.vertices), 2)
    assert material.baseColorTexture.size == (128, 128)
    assert material.metallicFactor == 0.0 and material.roughnessFactor == pytest.approx(0.9)
    assert len(glb.vertices) == metrics["exports"]["vertices"]
    # UV seams duplicate vertices; joined by position, the surface is closed and has no degenerate faces (trimesh's
    # test: every face's height above trimesh's merge tolerance; DMTet slivers near a grid vertex reach ~1e-11 area).
    solid = trimesh.Trimesh(glb.vertices, glb.faces, process=True)
    assert solid.is_watertight and solid.nondegenerate_faces().all() and solid.area_faces.min() > 0
    assert (out / "export" / "model.mtl").is_file() and (out / "export" / "albedo.png").is_file()
    obj = trimesh.load(out / "export" / "model.obj", force="mesh")
    assert isinstance(obj.visual, trimesh.visual.TextureVisuals) and len(obj.faces) == len(glb.faces)

    from threestudio_lite.evaluation.harness import score_exported_mesh

    checkpoints = out / "checkpoints"
    assert (checkpoints / "stage0-coarse.pt").is_file() and (checkpoints / "stage1-geometry.pt").is_file()
    assert not (checkpoints / "stage2-texture.pt").exists()
    scores = score_exported_mesh({"truth": "a red cube"}, out)
    assert 0.0 <= scores["coarse_iou"] <= 1.0 and scores["coarse_chamfer"] > 0 and scores["chamfer"] > 0

    cli("export", out, "--format", "ply")
    ply = trimesh.load(out / "export" / "model.ply", force="mesh")
    assert len(ply.faces) == len(glb.faces) and ply.visual.vertex_colors.shape == (len(ply.vertices), 4)


def test_baked_texture_reproduces_the_colour_field_and_pads_its_islands(tmp_path, gltf_validator):
    sphere = trimesh.creation.icosphere(3, radius=0.7)

    def field(p):
        return 0.5 + 0.45 * torch.sin(torch.stack([4 * p[:, 0], 3 * p[:, 1] + 1, 5 * p[:, 2]], -1))

    mesh = textured_mesh(sphere, field, size=256, padding=4)
    path = write_mesh(mesh, tmp_path / "model.glb")
    report = gltf_validator(path)
    assert report["errors"] == 0 and report["warnings"] == 0
    back = trimesh.load(path, force="mesh")
    colors = back.visual.to_color().vertex_colors[:, :3] / 255.0
    truth = field(torch.tensor(back.vertices, dtype=torch.float32)).numpy()
    assert np.abs(colors - truth).mean() < 0.01
    texture = np.asarray(back.visual.material.baseColorTexture.convert("RGB"))
    assert not (texture == 0).all(-1).any()  # padding and fill leave no black texels to bleed into seams


@pytest.mark.slow
def test_blender_imports_the_textured_glb_with_its_vertices(tmp_path):
    """Headless Blender (Debian's package, where installed) opens the GLB: one mesh object, same vertex count."""
    import shutil
    import subprocess

    if shutil.which("blender") is None:
        pytest.skip("Blender is not installed (Debian: apt-get install blender python3-numpy)")
    mesh = textured_mesh(trimesh.creation.icosphere(3, radius=0.7), lambda p: torch.full_like(p, 0.5), size=64)
    path = write_mesh(mesh, tmp_path / "model.glb")
    # Debian's Blender 3.4 importer still uses numpy.bool, which Debian's numpy 1.24 no longer has.
    script = ("import numpy; numpy.bool = bool; import bpy; bpy.ops.wm.read_factory_settings(use_empty=True); "
              f"bpy.ops.import_scene.gltf(filepath={str(path)!r}); "
              "meshes = [o for o in bpy.context.scene.objects if o.type == 'MESH']; "
              "print('VERTICES', len(meshes), sum(len(o.data.vertices) for o in meshes), "
              "sum(len(o.data.materials) for o in meshes))")
    proc = subprocess.run(["blender", "-b", "--factory-startup", "--python-expr", script], capture_output=True,
                          text=True, timeout=300)
    line = next(line for line in proc.stdout.splitlines() if line.startswith("VERTICES"))
    objects, vertices, materials = map(int, line.split()[1:])
    assert objects == 1 and materials == 1
    # Blender's importer joins vertices that share position, normal and UV: no more than the file holds, and at
    # least the surface's own (UV seams are the difference).
    assert len(trimesh.Trimesh(mesh.vertices, mesh.faces, process=True).vertices) <= vertices <= len(mesh.vertices)
