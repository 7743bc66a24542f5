from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from raddino_monai.models.ecamp.sr_head import InterpolateConvSR, box_region_map


def test_sr_head_shapes_and_maths() -> None:
    head = InterpolateConvSR()  # [ECAMP] scale 2, 3 -> 3 channels
    x = torch.randn(2, 3, 224 // 8, 224 // 8)
    out = head(x)
    assert out.shape == (2, 3, 56, 56) and bool((out >= 0).all())  # ECAMP's final ReLU
    up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    ref = F.relu(head.conv2(F.relu(head.conv1(up))) + up)
    torch.testing.assert_close(out, ref)
    free = InterpolateConvSR(final_relu=False)
    assert bool((free(-10 + x) < 0).any())
    with pytest.raises(ValueError, match="odd"):
        InterpolateConvSR(kernel_size=2)


def test_box_region_map_is_ecamps_kron_mask() -> None:
    # [ECAMP] mask_2_pixel: super_mask[i, top:top+12, left:left+12] = 1 on the 14 x 14 grid, kron with 32 x 32
    top, left = np.array([0, 2, 1, 5]), np.array([2, 0, 1, 3])
    got = box_region_map(torch.tensor(top), torch.tensor(left))
    assert got.shape == (4, 1, 448, 448)
    for i in range(4):
        cells = np.zeros((14, 14))
        cells[top[i] : top[i] + 12, left[i] : left[i] + 12] = 1  # slicing clips at the grid edge, as in ECAMP
        np.testing.assert_array_equal(got[i, 0].numpy(), np.kron(cells, np.ones((32, 32))))
    with pytest.raises(ValueError, match="multiple of grid"):
        box_region_map(torch.tensor([0]), torch.tensor([0]), size=100)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        box_region_map(torch.tensor([0, 1]), torch.tensor([0]))
