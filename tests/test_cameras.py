"""The camera convention: projection and ray generation agree, and spherical placement is as documented."""

import math

import torch

from threestudio_lite.data.cameras import CameraConfig, CameraSampler, make_cameras


def test_projected_point_lies_on_the_ray_of_its_pixel():
    g = torch.Generator().manual_seed(0)
    cams = CameraSampler(CameraConfig()).sample(6, 40, 56, g)  # non-square on purpose
    points = (torch.rand(6, 50, 3, generator=g) - 0.5) * 1.2
    uv, depth = cams.project(points)
    assert (depth > 0).all()
    origins, dirs = cams.rays()
    for b in range(6):
        for n in range(50):
            u, v = uv[b, n]
            if not (0 <= u < cams.width and 0 <= v < cams.height):
                continue
            i, j = int(v), int(u)
            # The ray through the pixel centre passes within half a pixel's footprint of the point.
            o, d = origins[b, i, j], dirs[b, i, j]
            to_point = points[b, n] - o
            miss = (to_point - (to_point @ d) * d).norm()
            footprint = (to_point @ d) / cams.focal()[b]
            assert miss <= footprint * 0.75, (b, n, miss, footprint)
            # And exactly through it when the point sits at that pixel's centre.
            centre = o + d * 2.0
            uv_c, _ = cams[b : b + 1].project(centre.view(1, 1, 3))
            torch.testing.assert_close(uv_c.view(2), torch.tensor([j + 0.5, i + 0.5]), atol=1e-3, rtol=0)


def test_spherical_placement_and_orientation():
    cams = make_cameras([0.0, 90.0 - 1e-3, 30.0], [0.0, 0.0, 90.0], 2.0, 40.0, 32, 32)
    torch.testing.assert_close(cams.positions[0], torch.tensor([2.0, 0.0, 0.0]), atol=1e-5, rtol=0)
    el = math.radians(30.0)
    torch.testing.assert_close(cams.positions[2], torch.tensor([0.0, 2 * math.cos(el), 2 * math.sin(el)]), atol=1e-5, rtol=0)
    # Every camera looks at the origin: the centre ray points from the camera to the origin.
    _, dirs = cams.rays()
    centre = dirs[:, 15:17, 15:17].mean((1, 2))
    torch.testing.assert_close(torch.nn.functional.normalize(centre, dim=-1),
                               -torch.nn.functional.normalize(cams.positions, dim=-1), atol=1e-3, rtol=0)
    # z is up in the image of a side camera: a point above the origin projects above the centre.
    uv, _ = cams[:1].project(torch.tensor([[[0.0, 0.0, 0.5]]]))
    assert uv[0, 0, 1] < 16
    # +y is to the right when looking at the front (from +x).
    uv, _ = cams[:1].project(torch.tensor([[[0.0, 0.5, 0.0]]]))
    assert uv[0, 0, 0] > 16


def test_sampler_ranges_and_stratified_azimuth():
    cfg = CameraConfig(elevation_range=(-10, 45), distance_range=(2.5, 3.0), fovy_range=(40, 45))
    g = torch.Generator().manual_seed(3)
    cams = CameraSampler(cfg).sample(8, 16, 16, g)
    assert ((cams.elevation >= -10 - 1e-4) & (cams.elevation <= 45 + 1e-4)).all()
    assert ((cams.distance >= 2.5) & (cams.distance <= 3.0)).all()
    # One azimuth in each of 8 equal sectors of the circle.
    sectors = torch.floor((cams.azimuth + 180.0) / 45.0).long().sort().values
    assert sectors.tolist() == list(range(8))
    # Lights sit roughly towards the camera.
    cos = torch.nn.functional.cosine_similarity(cams.light_positions, cams.positions, dim=-1)
    assert (cos > 0).float().mean() >= 0.75
