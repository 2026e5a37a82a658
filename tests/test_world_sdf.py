"""Exact SDF primitives of the world against brute-force distances to densely sampled surfaces."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from threestudio_lite.world import sdf as S

N_SURFACE = 150_000


_RNG = np.random.default_rng(0)  # one stream: independent draws for every sampler


def _rng():
    return _RNG


def _sphere_surface(radius):
    v = _rng().normal(size=(N_SURFACE, 3))
    return radius * v / np.linalg.norm(v, axis=1, keepdims=True)


def _box_surface(half):
    half = np.array(half)
    rng = _rng()
    areas = np.array([half[1] * half[2], half[0] * half[2], half[0] * half[1]])
    axis = rng.choice(3, size=N_SURFACE, p=areas / areas.sum())
    p = rng.uniform(-1, 1, size=(N_SURFACE, 3)) * half
    p[np.arange(N_SURFACE), axis] = rng.choice([-1.0, 1.0], size=N_SURFACE) * half[axis]
    return p


def _revolved(rho, z):
    """Surface points of a solid of revolution from profile samples (rho, z) weighted by rho (area element)."""
    theta = _rng().uniform(0, 2 * math.pi, size=len(rho))
    return np.stack([rho * np.cos(theta), rho * np.sin(theta), z], 1)


def _profile_samples(segments):
    """Points on profile segments ((rho0, z0), (rho1, z1)), drawn with density proportional to rho * length."""
    rng = _rng()
    seg = np.array(segments, dtype=float)
    t_grid = np.linspace(0, 1, 2001)
    weights = np.array([np.linalg.norm(b - a) * np.mean(a[0] + t_grid * (b[0] - a[0])) for a, b in seg])
    which = rng.choice(len(seg), size=N_SURFACE, p=weights / weights.sum())
    a, b = seg[which, 0], seg[which, 1]
    # Density proportional to rho along the segment: rejection-free inverse CDF for linear rho.
    u = rng.uniform(size=N_SURFACE)
    r0, r1 = a[:, 0], b[:, 0]
    slope = np.where(r1 == r0, 1.0, r1 - r0)
    t = np.where(r1 == r0, u, (np.sqrt(r0**2 + u * (r1**2 - r0**2)) - r0) / slope)
    pts = a + t[:, None] * (b - a)
    return _revolved(pts[:, 0], pts[:, 1])


def _polyline(vertices):
    return list(zip(vertices, vertices[1:]))


def _torus_surface(major, minor):
    rng = _rng()
    theta, phi = rng.uniform(0, 2 * math.pi, (2, N_SURFACE))
    rho = major + minor * np.cos(phi)
    return np.stack([rho * np.cos(theta), rho * np.sin(theta), minor * np.sin(phi)], 1)


def _triangle_samples(triangles):
    rng = _rng()
    tri = np.array(triangles, dtype=float)
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    which = rng.choice(len(tri), size=N_SURFACE, p=area / area.sum())
    u, v = rng.uniform(size=(2, N_SURFACE))
    flip = u + v > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    t = tri[which]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])


def _pyramid_case():
    b, z0, z1 = 0.5, -0.4, 0.6
    base = [(b, b, z0), (-b, b, z0), (-b, -b, z0), (b, -b, z0)]
    apex = (0.0, 0.0, z1)
    tris = [(base[0], base[1], base[2]), (base[0], base[2], base[3])]
    tris += [(base[i], base[(i + 1) % 4], apex) for i in range(4)]

    def inside(p):
        return (p[:, 2] > z0) & (np.maximum(np.abs(p[:, 0]), np.abs(p[:, 1])) < b * (z1 - p[:, 2]) / (z1 - z0))

    return S.Pyramid(b, z0, z1), _triangle_samples(tris), inside


def _extrusion_case():
    tri2d = [(-0.5, -0.2), (0.4, -0.3), (0.0, 0.5)]
    h = 0.3
    caps = [tuple((x, y, s * h) for x, y in tri2d) for s in (-1, 1)]
    walls = []
    for i in range(3):
        (x0, y0), (x1, y1) = tri2d[i], tri2d[(i + 1) % 3]
        walls += [((x0, y0, -h), (x1, y1, -h), (x1, y1, h)), ((x0, y0, -h), (x1, y1, h), (x0, y0, h))]

    def inside(p):
        a = np.array(tri2d)
        edge = [a[(i + 1) % 3] - a[i] for i in range(3)]
        signs = [edge[i][0] * (p[:, 1] - a[i][1]) - edge[i][1] * (p[:, 0] - a[i][0]) for i in range(3)]
        return (np.abs(p[:, 2]) < h) & (np.all(np.array(signs) > 0, 0) | np.all(np.array(signs) < 0, 0))

    return S.Extrusion(tuple(tri2d), h), _triangle_samples(caps + walls), inside


def _cases():
    rot = S.rotation("y", 35.0)
    box_half = (0.5, 0.3, 0.2)
    box_cloud = _box_surface(box_half)

    def box_inside(p, half=np.array(box_half)):
        return np.all(np.abs(p) < half, 1)

    r_cyl, h_cyl = 0.4, 0.5
    r_cone, z0, z1 = 0.5, -0.4, 0.6
    seg_a, seg_b, r_cap = np.array([-0.3, 0.1, 0.0]), np.array([0.4, -0.2, 0.3]), 0.2
    return {
        "sphere": (S.Sphere(0.6), _sphere_surface(0.6), lambda p: np.linalg.norm(p, axis=1) < 0.6),
        "box": (S.Box(box_half), box_cloud, box_inside),
        "cylinder": (
            S.Cylinder(r_cyl, h_cyl),
            _profile_samples(_polyline([(0, -h_cyl), (r_cyl, -h_cyl), (r_cyl, h_cyl), (0, h_cyl)])),
            lambda p: (np.hypot(p[:, 0], p[:, 1]) < r_cyl) & (np.abs(p[:, 2]) < h_cyl),
        ),
        "cone": (
            S.cone(r_cone, z0, z1),
            _profile_samples(_polyline([(0, z0), (r_cone, z0), (0, z1)])),
            lambda p: (p[:, 2] > z0) & (np.hypot(p[:, 0], p[:, 1]) < r_cone * (z1 - p[:, 2]) / (z1 - z0)),
        ),
        "tube": (
            S.Tube(0.3, 0.45, 0.4),
            _profile_samples(_polyline([(0.3, -0.4), (0.45, -0.4), (0.45, 0.4), (0.3, 0.4), (0.3, -0.4)])),
            lambda p: (np.abs(np.hypot(p[:, 0], p[:, 1]) - 0.375) < 0.075) & (np.abs(p[:, 2]) < 0.4),
        ),
        "torus": (
            S.Torus(0.5, 0.2), _torus_surface(0.5, 0.2),
            lambda p: (np.hypot(p[:, 0], p[:, 1]) - 0.5) ** 2 + p[:, 2] ** 2 < 0.04,
        ),
        "capsule": (
            S.Capsule(tuple(seg_a), tuple(seg_b), r_cap),
            None,  # checked against a densely sampled axis segment instead
            None,
        ),
        "pyramid": _pyramid_case(),
        "extrusion": _extrusion_case(),
        "rotated translated box": (
            S.Translate(S.Rotate(S.Box(box_half), rot), (0.1, -0.2, 0.15)),
            box_cloud @ np.array(rot).T + np.array([0.1, -0.2, 0.15]),
            lambda p: box_inside((p - np.array([0.1, -0.2, 0.15])) @ np.array(rot)),
        ),
        "scaled box": (S.Scale(S.Box(box_half), 1.5), 1.5 * box_cloud, lambda p: box_inside(p / 1.5)),
        "mirrored sphere": (
            S.Mirror(S.Translate(S.Sphere(0.2), (0.4, 0.3, 0.0)), "xy"),
            np.concatenate([
                _sphere_surface(0.2)[i::4] + np.array([sx * 0.4, sy * 0.3, 0])
                for i, (sx, sy) in enumerate([(1, 1), (1, -1), (-1, 1), (-1, -1)])
            ]),
            lambda p: np.linalg.norm(np.abs(p) - np.array([0.4, 0.3, 0.0]), axis=1) < 0.2,
        ),
    }


CASES = _cases()


def _queries(n=3000, seed=1):
    """Half near the solids (which are small), half in a larger box around them."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.uniform(-0.7, 0.7, size=(n // 2, 3)), rng.uniform(-1.2, 1.2, size=(n - n // 2, 3))])


@pytest.mark.parametrize("name", [k for k, v in CASES.items() if v[1] is not None])
def test_primitive_matches_brute_force_distance_and_sign(name):
    sdf, cloud, inside = CASES[name]
    q = _queries()
    brute, _ = cKDTree(cloud).query(q)
    keep = brute > 0.1  # sampled-cloud distances are accurate away from the surface
    values = sdf(torch.from_numpy(q).float()).numpy()
    assert keep.sum() > 1000
    # Cloud spacing ~4e-3: corners and edges of polyhedra are sampled no closer than that.
    np.testing.assert_allclose(np.abs(values[keep]), brute[keep], atol=6e-3)
    assert np.array_equal(values[keep] < 0, inside(q[keep]))
    assert (values < 0).sum() > 50  # the queries really probe the inside too


def test_capsule_matches_distance_to_dense_segment():
    sdf, _, _ = CASES["capsule"]
    a, b = np.array(sdf.start), np.array(sdf.end)
    axis = a + np.linspace(0, 1, 20001)[:, None] * (b - a)
    q = _queries()
    brute = cKDTree(axis).query(q)[0] - sdf.radius
    np.testing.assert_allclose(sdf(torch.from_numpy(q).float()).numpy(), brute, atol=1e-4)


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_has_unit_norm_almost_everywhere(name):
    sdf = CASES[name][0]
    q = torch.from_numpy(_queries(2000, seed=2)).float()
    h = 1e-3
    grad = torch.stack([(sdf(q + h * e) - sdf(q - h * e)) / (2 * h) for e in torch.eye(3)], -1)
    norm = grad.norm(dim=-1)
    # Only points within h of the medial axis (kinks of the distance) may deviate.
    assert ((norm - 1).abs() < 1e-2).float().mean() > 0.97
    assert norm.max() < 1.0 + 1e-2  # 1-Lipschitz


def test_union_is_the_minimum_and_exact_outside():
    a, b = S.Sphere(0.5), S.Translate(S.Sphere(0.3), (0.6, 0.0, 0.0))
    q = torch.from_numpy(_queries()).float()
    union = S.Union((a, b))(q)
    assert torch.equal(union, torch.minimum(a(q), b(q)))
    cloud = np.concatenate([_sphere_surface(0.5), _sphere_surface(0.3) + np.array([0.6, 0, 0])])
    cloud = cloud[(S.Union((a, b))(torch.from_numpy(cloud).float()) > -1e-6).numpy()]  # drop hidden surface
    brute, _ = cKDTree(cloud).query(q.numpy())
    outside = (union > 0.05).numpy()
    np.testing.assert_allclose(union.numpy()[outside], brute[outside], atol=4e-3)


def test_rotation_turns_counter_clockwise_about_the_axis():
    np.testing.assert_allclose(np.array(S.rotation("z", 90)) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(np.array(S.rotation("y", 90)) @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(np.array(S.rotation("x", 90)) @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    # A Rotate'd cone with its apex on +z now points its apex to +x.
    nose = S.Rotate(S.cone(0.1, 0.0, 0.5), S.rotation("y", 90))
    assert abs(nose(torch.tensor([[0.5, 0.0, 0.0]])).item()) < 1e-6
    assert nose(torch.tensor([[0.0, 0.0, 0.5]])).item() > 0.4


def test_sdfs_are_hashable_values():
    assert S.Translate(S.Sphere(0.2), (0.1, 0.0, 0.0)) == S.Translate(S.Sphere(0.2), (0.1, 0.0, 0.0))
    assert len({S.Box((0.1, 0.2, 0.3)), S.Box((0.1, 0.2, 0.3)), S.Box((0.1, 0.2, 0.4))}) == 2
