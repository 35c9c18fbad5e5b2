"""UNetFormer's decoder (global-local attention blocks, weighted fusion, refinement head).

One implementation serves both GeoSeg models; the two places where GeoSeg's FT-UNetFormer and
UNetFormer differ (3x3 ConvBN vs 1x1 Conv for skip projections, BN position in the separable conv)
are constructor flags, because they change state-dict names and must match GeoSeg checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.layers import DropPath, trunc_normal_
from torch import nn

from landseg.models.layers import (
    Conv,
    ConvBN,
    ConvBNReLU,
    SeparableConvBN,
    pad_reflect,
    relative_position_index,
)


class GlobalLocalAttention(nn.Module):
    """Window self-attention (global branch) plus two convolutions (local branch)."""

    def __init__(self, dim: int = 256, num_heads: int = 16, window_size: int = 8, bn_first: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"decode_channels ({dim}) must be divisible by the decoder's {num_heads} heads.")
        self.num_heads = num_heads
        self.ws = window_size
        self.qkv = Conv(dim, 3 * dim, kernel_size=1)
        self.local1 = ConvBN(dim, dim, kernel_size=3)
        self.local2 = ConvBN(dim, dim, kernel_size=1)
        self.proj = SeparableConvBN(dim, dim, kernel_size=window_size, bn_first=bn_first)
        self.attn_x = nn.AvgPool2d(kernel_size=(window_size, 1), stride=1, padding=(window_size // 2 - 1, 0))
        self.attn_y = nn.AvgPool2d(kernel_size=(1, window_size), stride=1, padding=(0, window_size // 2 - 1))
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        ws, nh = self.ws, self.num_heads
        local = self.local2(x) + self.local1(x)
        x = pad_reflect(x, (ws - w % ws) % ws, (ws - h % ws) % ws)
        hp, wp = x.shape[-2:]
        hh, ww = hp // ws, wp // ws
        # 'b (qkv h d) (hh ws1) (ww ws2) -> qkv (b hh ww) h (ws1 ws2) d' without einops.
        qkv = self.qkv(x).view(b, 3, nh, c // nh, hh, ws, ww, ws).permute(1, 0, 4, 6, 2, 5, 7, 3)
        q, k, v = qkv.reshape(3, b * hh * ww, nh, ws * ws, c // nh).unbind(0)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(ws * ws, ws * ws, -1).permute(2, 0, 1).unsqueeze(0).to(q.dtype)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        attn = attn.view(b, hh, ww, nh, ws, ws, c // nh).permute(0, 3, 6, 1, 4, 2, 5).reshape(b, c, hp, wp)
        attn = attn[:, :, :h, :w]
        out = self.attn_x(pad_reflect(attn, 0, 1)) + self.attn_y(pad_reflect(attn, 1, 0))
        out = self.proj(pad_reflect(out + local, 1, 1))
        return out[:, :, :h, :w]


class MlpDecoder(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.act = nn.ReLU6()
        self.fc2 = nn.Conv2d(hidden, dim, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, window_size: int, bn_first: bool, mlp_ratio: float = 4.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = GlobalLocalAttention(dim, num_heads, window_size, bn_first)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.mlp = MlpDecoder(dim, int(dim * mlp_ratio))
        self.norm2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def _skip_proj(in_ch: int, out_ch: int, conv_bn_3x3: bool) -> nn.Module:
    return ConvBN(in_ch, out_ch, kernel_size=3) if conv_bn_3x3 else Conv(in_ch, out_ch, kernel_size=1)


def _fuse(module: nn.Module, x: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
    """Upsample ``x`` 2x and blend it with the projected skip ``res`` by learned, normalised weights."""
    x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    weights = F.relu(module.weights)
    fuse = weights / (weights.sum(dim=0) + module.eps)
    return module.post_conv(fuse[0] * module.pre_conv(res) + fuse[1] * x)


class WF(nn.Module):
    """Weighted fusion of a decoder map with an encoder skip."""

    def __init__(self, in_channels: int, decode_channels: int, conv_bn_3x3: bool, eps: float = 1e-8) -> None:
        super().__init__()
        self.pre_conv = _skip_proj(in_channels, decode_channels, conv_bn_3x3)
        self.weights = nn.Parameter(torch.ones(2))
        self.eps = eps
        self.post_conv = ConvBNReLU(decode_channels, decode_channels, kernel_size=3)

    def forward(self, x: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
        return _fuse(self, x, res)


class FeatureRefinementHead(nn.Module):
    """Final fusion with the stride-4 skip, then spatial (pa) and channel (ca) attention."""

    def __init__(self, in_channels: int, decode_channels: int, conv_bn_3x3: bool, bn_first: bool) -> None:
        super().__init__()
        dc = decode_channels
        self.pre_conv = _skip_proj(in_channels, dc, conv_bn_3x3)
        self.weights = nn.Parameter(torch.ones(2))
        self.eps = 1e-8
        self.post_conv = ConvBNReLU(dc, dc, kernel_size=3)
        self.pa = nn.Sequential(nn.Conv2d(dc, dc, kernel_size=3, padding=1, groups=dc), nn.Sigmoid())
        self.ca = nn.Sequential(nn.AdaptiveAvgPool2d(1), Conv(dc, max(dc // 16, 1), kernel_size=1), nn.ReLU6(),
                                Conv(max(dc // 16, 1), dc, kernel_size=1), nn.Sigmoid())
        self.shortcut = ConvBN(dc, dc, kernel_size=1)
        self.proj = SeparableConvBN(dc, dc, kernel_size=3, bn_first=bn_first)
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
        x = _fuse(self, x, res)
        shortcut = self.shortcut(x)
        x = self.pa(x) * x + self.ca(x) * x
        return self.act(self.proj(x) + shortcut)


class AuxHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, in_channels)
        self.drop = nn.Dropout(0.1)
        self.conv_out = Conv(in_channels, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.conv_out(self.drop(self.conv(x)))
        return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


class Decoder(nn.Module):
    def __init__(self, encoder_channels: Sequence[int], decode_channels: int, dropout: float, window_size: int,
                 num_classes: int, num_heads: int, conv_bn_3x3: bool, bn_first: bool, aux_head: bool) -> None:
        super().__init__()
        dc = decode_channels
        self.pre_conv = ConvBN(encoder_channels[-1], dc, kernel_size=1)
        self.b4 = Block(dc, num_heads, window_size, bn_first)
        self.b3 = Block(dc, num_heads, window_size, bn_first)
        self.p3 = WF(encoder_channels[-2], dc, conv_bn_3x3)
        self.b2 = Block(dc, num_heads, window_size, bn_first)
        self.p2 = WF(encoder_channels[-3], dc, conv_bn_3x3)
        if aux_head:
            self.up4 = nn.UpsamplingBilinear2d(scale_factor=4)
            self.up3 = nn.UpsamplingBilinear2d(scale_factor=2)
            self.aux_head = AuxHead(dc, num_classes)
        self.p1 = FeatureRefinementHead(encoder_channels[-4], dc, conv_bn_3x3, bn_first)
        self.segmentation_head = nn.Sequential(ConvBNReLU(dc, dc), nn.Dropout2d(p=dropout),
                                               Conv(dc, num_classes, kernel_size=1))

    def forward(self, feats: Sequence[torch.Tensor], h: int, w: int,
                return_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        res1, res2, res3, res4 = feats
        x4 = self.b4(self.pre_conv(res4))
        x3 = self.b3(self.p3(x4, res3))
        x2 = self.b2(self.p2(x3, res2))
        x = self.segmentation_head(self.p1(x2, res1))
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        if not return_aux:
            return x
        if not hasattr(self, "aux_head"):
            raise RuntimeError("This decoder was built without an auxiliary head.")
        return x, self.aux_head(self.up4(x4) + self.up3(x3) + x2, h, w)
