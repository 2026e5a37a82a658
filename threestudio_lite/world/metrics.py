"""Ground-truth metrics of 3D results against a world object's exact SDF and colours (volumetric IoU, Chamfer
distance, colour error, front-marker check), and image metrics (PSNR, mask IoU)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import torch
import trimesh
from scipy.spatial import cKDTree

from .objects import WorldObject, grid_points, surface_mesh


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _truth_occupancy(obj: WorldObject, resolution: int) -> np.ndarray:
    """sdf < 0 at the cell centres of ``grid_points(resolution)``, shaped (res, res, res) indexed [x, y, z]."""
    inside = torch.cat([obj.sdf(chunk) < 0 for chunk in grid_points(resolution).split(1 << 18)])
    return inside.view((resolution,) * 3).numpy()


def _edge_function(verts: np.ndarray, i: np.ndarray, j: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """2D cross product (v_j - v_i) x (p - v_i), computed from the lower-indexed vertex so that the value for
    edge (i, j) is exactly minus the value for (j, i): a point on an edge shared by two triangles is then
    assigned to exactly one of them."""
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    a, b = verts[lo], verts[hi]
    value = (b[:, 0] - a[:, 0]) * (py - a[:, 1]) - (b[:, 1] - a[:, 1]) * (px - a[:, 0])
    return np.where(i < j, value, -value)


def mesh_occupancy(mesh: trimesh.Trimesh, resolution: int = 64) -> np.ndarray:
    """Inside-ness (res, res, res) [x, y, z] of a closed mesh at the cell centres of ``grid_points(resolution)``.

    Each (x, y) column of cell centres is crossed with every triangle whose xy-projection contains it (with a
    top-left tie rule on shared edges, so no crossing is counted twice or lost); a cell centre is inside when
    an odd number of crossings lie below it and at least one above (so a stray open edge cannot fill a column
    to the top). Vertices must be shared between adjacent faces (as in any watertight mesh)."""
    h = 2.0 / resolution
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    xy = verts[faces][:, :, :2]
    first = np.clip(np.ceil((xy.min(1) + 1.0) / h - 0.5).astype(np.int64), 0, resolution)
    last = np.clip(np.floor((xy.max(1) + 1.0) / h - 0.5).astype(np.int64), -1, resolution - 1)
    span = np.maximum(last - first + 1, 0)
    count = span[:, 0] * span[:, 1]
    tri = np.repeat(np.arange(len(faces)), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    ix = first[tri, 0] + k // np.maximum(span[tri, 1], 1)
    iy = first[tri, 1] + k % np.maximum(span[tri, 1], 1)
    px, py = (ix + 0.5) * h - 1.0, (iy + 0.5) * h - 1.0

    a, b, c = faces[tri, 0], faces[tri, 1], faces[tri, 2]
    w = np.stack([_edge_function(verts, b, c, px, py), _edge_function(verts, c, a, px, py),
                  _edge_function(verts, a, b, px, py)], -1)  # weights of a, b, c
    edge_dirs = np.stack([verts[c] - verts[b], verts[a] - verts[c], verts[b] - verts[a]], 1)[..., :2]
    e1, e2 = verts[b] - verts[a], verts[c] - verts[a]
    orientation = np.sign(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])[:, None]  # of the xy-projection
    w, edge_dirs = w * orientation, edge_dirs * orientation[..., None]
    owns_ties = (edge_dirs[..., 1] > 0) | ((edge_dirs[..., 1] == 0) & (edge_dirs[..., 0] > 0))
    covers = (orientation[:, 0] != 0) & ((w > 0) | ((w == 0) & owns_ties)).all(-1)
    z = (w * verts[faces[tri]][:, :, 2]).sum(-1)[covers] / w.sum(-1)[covers]

    column = (ix * resolution + iy)[covers]
    first_above = np.clip(np.floor((z + 1.0) / h - 0.5).astype(np.int64) + 1, 0, resolution)
    toggles = np.bincount(column * (resolution + 1) + first_above, minlength=resolution * resolution * (resolution + 1))
    below = np.cumsum(toggles.reshape(resolution * resolution, resolution + 1), axis=1)
    inside = (below[:, :resolution] % 2 == 1) & (below[:, :resolution] < below[:, -1:])
    return inside.reshape((resolution,) * 3)


def volumetric_iou_mesh(mesh: trimesh.Trimesh, obj: WorldObject, resolution: int = 64) -> float:
    """IoU of a closed mesh's inside (``mesh_occupancy``) with sdf < 0, on the cell centres of a regular grid over
    [-1, 1]^3 (resolution^3 cells)."""
    return _iou(mesh_occupancy(mesh, resolution), _truth_occupancy(obj, resolution))


def volumetric_iou_field(
    occupied: Callable[[torch.Tensor], torch.Tensor], obj: WorldObject, resolution: int = 64
) -> float:
    """IoU of a field's occupied region (``occupied``: points (N, 3) -> bool (N,)) with sdf < 0 on the same grid."""
    with torch.no_grad():
        mask = torch.cat([torch.as_tensor(occupied(chunk)).bool() for chunk in grid_points(resolution).split(1 << 16)])
    return _iou(mask.view((resolution,) * 3).numpy(), _truth_occupancy(obj, resolution))


def _point_triangle_distance(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Distances (...) from points (..., 3) to triangles (..., 3, 3): to the plane when the point projects inside
    the triangle, else to the nearest edge."""
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    normal = np.cross(b - a, c - a)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-30)
    shape = np.broadcast_shapes(p.shape[:-1], tri.shape[:-2])
    over, edge_dist = np.ones(shape, dtype=bool), np.full(shape, np.inf)
    for v0, v1 in ((a, b), (b, c), (c, a)):
        edge = v1 - v0
        over &= (np.cross(normal, edge) * (p - v0)).sum(-1) >= 0
        h = np.clip(((p - v0) * edge).sum(-1) / np.maximum((edge * edge).sum(-1), 1e-30), 0.0, 1.0)
        edge_dist = np.minimum(edge_dist, np.linalg.norm(p - v0 - h[..., None] * edge, axis=-1))
    return np.where(over, np.abs(((p - a) * normal).sum(-1)), edge_dist)


def distances_to_mesh(points: np.ndarray, mesh: trimesh.Trimesh, candidates: int = 8, seed: int = 0) -> np.ndarray:
    """Distances (N,) from points (N, 3) to a mesh surface: exact point-triangle distances to the triangles of the
    ``candidates`` nearest of a dense area-uniform sample of the mesh (found with a cKDTree)."""
    n_samples = max(10 * len(points), 5 * len(mesh.faces))
    samples, face_index = trimesh.sample.sample_surface(mesh, n_samples, seed=seed)
    _, nearest = cKDTree(samples).query(points, k=candidates)
    triangles = np.asarray(mesh.triangles)[face_index[nearest]]
    return _point_triangle_distance(points[:, None, :], triangles).min(-1)


def chamfer_distance(mesh: trimesh.Trimesh, obj: WorldObject, n_points: int = 20000, seed: int = 0) -> float:
    """Symmetric Chamfer distance: the mean of (a) the mean distance from n_points area-uniform mesh samples to
    the true surface, |sdf| (exact outside; inside overlapping parts a lower bound), and (b) the mean distance
    from n_points area-uniform true surface samples to the mesh (``distances_to_mesh``)."""
    mesh_points = trimesh.sample.sample_surface(mesh, n_points, seed=seed)[0]
    to_truth = obj.sdf(torch.from_numpy(mesh_points).float()).abs().mean().item()
    truth_points = obj.sample_surface(n_points, torch.Generator().manual_seed(seed))[0].double().numpy()
    to_mesh = distances_to_mesh(truth_points, mesh, seed=seed).mean()
    return 0.5 * (to_truth + float(to_mesh))


def _as_unit_rgb(colors) -> np.ndarray:
    colors = np.asarray(colors)
    rgb = colors[..., :3].astype(np.float64)
    return rgb / 255.0 if colors.dtype == np.uint8 else rgb


def color_error(mesh_points, mesh_colors, obj: WorldObject) -> float:
    """Mean absolute RGB error in [0, 1] between colours at points (N, 3) (floats in [0, 1] or uint8) and the
    object's colour at each point's projection onto the true surface (``WorldObject.project``)."""
    points = torch.as_tensor(np.asarray(mesh_points), dtype=torch.float32)
    truth = obj.color(obj.project(points)).double().numpy()
    return float(np.abs(_as_unit_rgb(mesh_colors) - truth).mean())


def marker_clusters(
    mesh: trimesh.Trimesh, mesh_colors, obj: WorldObject, color_tolerance: float = 0.25
) -> list[tuple[np.ndarray, float]]:
    """Connected patches of a mesh coloured like the object's front marker, as (area-weighted centroid, area).

    A vertex is marker-coloured when, among the object's part colours, the marker's is the nearest to it and
    closer than ``color_tolerance`` (Euclidean RGB); patches are connected components of the mesh edges joining
    two marker-coloured vertices; each vertex carries a third of the area of its faces. ``mesh_colors`` are per
    vertex, (V, 3 or 4), floats in [0, 1] or uint8."""
    marker = obj.front_marker
    if marker is None:
        raise ValueError(f"{obj.shape} has no front marker")
    palette = np.array(sorted({part.rgb for part in obj.parts}))
    rgb = _as_unit_rgb(mesh_colors)
    distance = np.linalg.norm(rgb[:, None, :] - palette[None], axis=-1)
    nearest = palette[distance.argmin(1)]
    is_marker = np.all(nearest == np.array(marker.rgb), axis=1) & (distance.min(1) < color_tolerance)
    vertex_area = np.zeros(len(mesh.vertices))
    np.add.at(vertex_area, np.asarray(mesh.faces).ravel(), np.repeat(mesh.area_faces / 3.0, 3))
    edges = np.asarray(mesh.edges_unique)
    edges = edges[is_marker[edges].all(1)]
    graph = scipy.sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(rgb),) * 2)
    _, label = scipy.sparse.csgraph.connected_components(graph, directed=False)
    label, weight = label[is_marker], vertex_area[is_marker]
    area = np.bincount(label, weights=weight)
    points = np.asarray(mesh.vertices)[is_marker]
    moment = np.stack([np.bincount(label, weights=weight * x, minlength=len(area)) for x in points.T], 1)
    return [(moment[k] / area[k], float(area[k])) for k in np.flatnonzero(area > 0)]


def front_marker_check(
    mesh: trimesh.Trimesh, mesh_colors, obj: WorldObject, min_area_fraction: float = 0.25,
    max_offset: float = 0.25,
) -> bool | None:
    """Whether an asymmetric object's front marker (the snowman's nose, the mug's handle, the house's door)
    appears once and on the front; None for objects without a marker.

    Rule: take the marker-coloured patches of the mesh (``marker_clusters``) whose area is at least
    ``min_area_fraction`` of the true marker's visible area (smaller ones are noise). The check passes when there
    is exactly one such patch, its centroid has x > 0 (the front half, facing +x), and it lies within
    ``max_offset`` of the centroid of the true marker's visible surface (from ``surface_mesh(obj)``).
    ``mesh_colors`` are per vertex, as for ``marker_clusters``."""
    if obj.front_marker is None:
        return None
    truth = surface_mesh(obj)
    truth_clusters = marker_clusters(truth, truth.visual.vertex_colors, obj)
    truth_area = sum(area for _, area in truth_clusters)
    truth_centroid = sum(c * area for c, area in truth_clusters) / truth_area
    found = [(c, a) for c, a in marker_clusters(mesh, mesh_colors, obj) if a >= min_area_fraction * truth_area]
    if len(found) != 1:
        return False
    centroid = found[0][0]
    return bool(centroid[0] > 0 and np.linalg.norm(centroid - truth_centroid) <= max_offset)


def psnr(a, b, max_value: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB between two images (any equal shapes, values in [0, max_value]);
    inf for identical images."""
    mse = float(((torch.as_tensor(a, dtype=torch.float64) - torch.as_tensor(b, dtype=torch.float64)) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(max_value**2 / mse)


def mask_iou(alpha_a, alpha_b, threshold: float = 0.5) -> float:
    """IoU of the masks alpha > threshold of two alpha images (1.0 when both are empty)."""
    a = torch.as_tensor(alpha_a) > threshold
    b = torch.as_tensor(alpha_b) > threshold
    return _iou(a.numpy(), b.numpy())
