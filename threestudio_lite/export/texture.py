"""UV-textured meshes: unwrap with xatlas, bake a colour field into a texture image, pad the islands so seams do
not bleed, and attach a PBR material (metallic 0, rough) that GLB and OBJ+MTL writers carry."""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from PIL import Image

from ..renderers.rasterizer import rasterize_flat


def unwrap(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xatlas charts: vertices (V', 3) (seam vertices duplicated), faces (F, 3) and UVs (V', 2) in [0, 1]."""
    import xatlas

    mapping, faces, uvs = xatlas.parametrize(np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.uint32))
    return np.asarray(mesh.vertices)[mapping], faces.astype(np.int64), uvs


@torch.no_grad()
def bake(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, albedo_fn, size: int, padding: int) -> np.ndarray:
    """A (size, size, 3) uint8 texture: ``albedo_fn`` (points (N, 3) -> (N, 3) in [0, 1]) at the surface point of
    every covered texel; uncovered texels within ``padding`` take their nearest covered texel's colour, the rest
    the mean colour. Image row 0 is v = 1 (glTF's and trimesh's convention)."""
    from scipy import ndimage

    pixels = torch.from_numpy(np.stack([uvs[:, 0], 1.0 - uvs[:, 1]], -1) * size).double()
    faces_t = torch.from_numpy(faces)
    face, bary = rasterize_flat(pixels, faces_t, size, size)
    covered = face >= 0
    corners = torch.from_numpy(np.asarray(vertices, np.float64))[faces_t[face[covered]]]
    points = (bary[covered].unsqueeze(-1) * corners).sum(1).float()
    colors = torch.cat([albedo_fn(chunk).float().cpu() for chunk in points.split(1 << 16)]).clamp(0, 1).numpy()
    image = np.zeros((size, size, 3), np.float32)
    mask = covered.numpy()
    image[mask] = colors
    distance, (rows, cols) = ndimage.distance_transform_edt(~mask, return_indices=True)
    near = ~mask & (distance <= padding)
    image[near] = image[rows[near], cols[near]]
    image[~mask & ~near] = colors.mean(0) if len(colors) else 0.5
    return (image * 255.0 + 0.5).clip(0, 255).astype(np.uint8)


def textured_mesh(mesh: trimesh.Trimesh, albedo_fn, size: int = 1024, padding: int = 4) -> trimesh.Trimesh:
    """``mesh`` unwrapped and baked, with a PBR material: baseColorTexture, metallic 0, roughness 0.9."""
    vertices, faces, uvs = unwrap(mesh)
    texture = Image.fromarray(bake(vertices, faces, uvs, albedo_fn, size, padding))
    # A white base colour factor: OBJ viewers multiply the MTL's Kd (made from it) into the texture.
    material = trimesh.visual.material.PBRMaterial(name="albedo", baseColorTexture=texture, metallicFactor=0.0,
                                                   roughnessFactor=0.9, baseColorFactor=[255, 255, 255, 255])
    return trimesh.Trimesh(vertices, faces, visual=trimesh.visual.TextureVisuals(uv=uvs, material=material),
                           process=False)
