"""FT-UNetFormer: a Swin Transformer encoder with UNetFormer's decoder (GeoSeg-compatible)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from landseg.models.decoder import Decoder
from landseg.models.swin import SwinTransformer


class FTUNetFormer(nn.Module):
    """GeoSeg's FT-UNetFormer. Defaults equal GeoSeg's ``ft_unetformer`` factory (Swin-B, 96M params).

    Unlike GeoSeg it accepts any input whose sides are multiples of 32.
    """

    def __init__(self, num_classes: int = 6, decode_channels: int = 256, dropout: float = 0.2,
                 embed_dim: int = 128, depths: Sequence[int] = (2, 2, 18, 2),
                 num_heads: Sequence[int] = (4, 8, 16, 32), window_size: int = 8, freeze_stages: int = -1,
                 backbone_window_size: int = 7, drop_path_rate: float = 0.3, decoder_num_heads: int = 16) -> None:
        super().__init__()
        self.backbone = SwinTransformer(embed_dim=embed_dim, depths=tuple(depths), num_heads=tuple(num_heads),
                                        window_size=backbone_window_size, drop_path_rate=drop_path_rate,
                                        frozen_stages=freeze_stages)
        channels = [embed_dim * 2**i for i in range(4)]
        self.decoder = Decoder(channels, decode_channels, dropout, window_size, num_classes,
                               num_heads=decoder_num_heads, conv_bn_3x3=True, bn_first=False, aux_head=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return self.decoder(self.backbone(x), h, w)
