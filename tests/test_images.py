"""Figure mosaics: rows laid out in side-by-side blocks never split a truth/sample pair."""

import torch

from threestudio_lite.utils.images import grid


def test_grid_lays_rows_out_in_blocks_without_splitting_pairs():
    rows = [torch.full((3, 4, 4, 3), k / 10.0) for k in range(6)]  # 6 rows of 3 images, row k has value k/10
    mosaic = grid(rows, columns=2, together=2)
    assert mosaic.shape == (4 * 4, 2 * 3 * 4 + 8, 3)  # blocks of 4 and 2 rows, 8 px gap
    right = mosaic[:, 3 * 4 + 8 :]
    assert right[0, 0, 0] == round(4 / 10 * 255) and right[4, 0, 0] == round(5 / 10 * 255)
    assert (right[8:] == 255).all()  # the shorter block is padded with white
    assert grid(rows).shape == (6 * 4, 3 * 4, 3)
