"""Small building blocks shared by the GeoSeg-compatible models.

Module layouts (the order inside each ``nn.Sequential``) are part of the state-dict names, so they
follow GeoSeg exactly: weight compatibility with users' GeoSeg checkpoints requires it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _same_padding(kernel_size: int, dilation: int = 1, stride: int = 1) -> int:
    return ((stride - 1) + dilation * (kernel_size - 1)) // 2


class ConvBNReLU(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, dilation: int = 1, stride: int = 1,
                 bias: bool = False) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, dilation=dilation, bias=bias,
                      padding=_same_padding(kernel_size, dilation, stride)),
            nn.BatchNorm2d(out_ch),
            nn.ReLU6(),
        )


class ConvBN(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, dilation: int = 1, stride: int = 1,
                 bias: bool = False) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, dilation=dilation, bias=bias,
                      padding=_same_padding(kernel_size, dilation, stride)),
            nn.BatchNorm2d(out_ch),
        )


class Conv(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, dilation: int = 1, stride: int = 1,
                 bias: bool = False) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, dilation=dilation, bias=bias,
                      padding=_same_padding(kernel_size, dilation, stride)),
        )


class SeparableConvBN(nn.Sequential):
    """Depth-wise conv, point-wise conv and BatchNorm.

    ``bn_first`` reproduces UNetFormer's order (depth-wise, BN, point-wise); FT-UNetFormer puts the
    BN last. The index of each part is in the state-dict key, hence two orders.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, bn_first: bool = False) -> None:
        dw = nn.Conv2d(in_ch, in_ch, kernel_size, padding=_same_padding(kernel_size), groups=in_ch, bias=False)
        pw = nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=False)
        parts = [dw, nn.BatchNorm2d(out_ch), pw] if bn_first else [dw, pw, nn.BatchNorm2d(out_ch)]
        super().__init__(*parts)


def pad_reflect(x: torch.Tensor, right: int, bottom: int) -> torch.Tensor:
    """Reflect-pad the right/bottom edges of an NCHW tensor by any amount.

    Equals ``F.pad(x, (0, right, 0, bottom), mode="reflect")`` wherever that is defined (pad smaller
    than the side), which is where GeoSeg runs. Larger pads (small feature maps, e.g. a 32-pixel
    input gives a 1x1 map that GeoSeg must pad to its 8x8 window) keep reflecting the already
    padded tensor, and a side of length 1 is replicated, so any multiple of 32 works.
    """
    while right > 0 or bottom > 0:
        h, w = x.shape[-2:]
        r = min(right, w - 1)
        b = min(bottom, h - 1)
        if (right > 0 and w == 1) or (bottom > 0 and h == 1):
            x = F.pad(x, (0, right if w == 1 else 0, 0, bottom if h == 1 else 0), mode="replicate")
            right = 0 if w == 1 else right
            bottom = 0 if h == 1 else bottom
            continue
        x = F.pad(x, (0, r, 0, b), mode="reflect")
        right -= r
        bottom -= b
    return x


def relative_position_index(window: int) -> torch.Tensor:
    """Pairwise relative-position index inside a ``window x window`` window (Swin's scheme)."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    flat = coords.flatten(1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    return rel.sum(-1)
