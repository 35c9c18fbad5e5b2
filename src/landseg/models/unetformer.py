"""UNetFormer: any timm CNN encoder with the UNetFormer decoder (GeoSeg-compatible)."""

from __future__ import annotations

import torch
from torch import nn

from landseg.models.decoder import Decoder


class UNetFormer(nn.Module):
    """GeoSeg's UNetFormer over a timm ``features_only`` backbone (resnet18, efficientnet_b4, ...).

    ``pretrained``: ``False``; a local weights file for the backbone; or ``"timm"`` to let timm fetch
    them from its hub (only when the user asks for it: tests and the demo never download).
    The auxiliary head exists (as in GeoSeg checkpoints) and is used only by ``forward(x, return_aux=True)``.
    """

    has_aux = True  # training adds 0.4 x the auxiliary loss, as GeoSeg does

    def __init__(self, num_classes: int = 6, backbone: str = "resnet18", decode_channels: int = 64,
                 dropout: float = 0.1, window_size: int = 8, pretrained: bool | str = False,
                 decoder_num_heads: int = 8) -> None:
        super().__init__()
        import timm

        kwargs: dict = {}
        if isinstance(pretrained, str) and pretrained != "timm":
            kwargs["pretrained_cfg_overlay"] = {"file": pretrained}
        self.backbone = timm.create_model(backbone, features_only=True, output_stride=32, out_indices=(1, 2, 3, 4),
                                          pretrained=bool(pretrained), **kwargs)
        channels = self.backbone.feature_info.channels()
        self.decoder = Decoder(channels, decode_channels, dropout, window_size, num_classes,
                               num_heads=decoder_num_heads, conv_bn_3x3=False, bn_first=True, aux_head=True)

    def forward(self, x: torch.Tensor, return_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        return self.decoder(self.backbone(x), h, w, return_aux=return_aux)
