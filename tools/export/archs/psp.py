"""GradualStyleEncoder of pSp, which SAM uses twice (encoder.* with 4 input channels,
pretrained_encoder.* with 3)."""
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .irse import irse_body, irse_input_layer
from .stylegan2 import EqualLinear

Device = Optional[torch.device]


@dataclass(frozen=True)
class EncoderSpec:
    """GradualStyleEncoder: IR-SE body (units per stage, widths per stage), style heads."""

    units: Tuple[int, ...] = (3, 4, 14, 3)
    widths: Tuple[int, ...] = (64, 128, 256, 512)
    head: int = 512
    n_styles: int = 18
    style_dim: int = 512


class StyleHead(nn.Module):
    """log2(spatial) stride-2 3x3 convolutions with leaky ReLU down to 1x1, then EqualLinear."""

    def __init__(self, cin: int, width: int, spatial: int, style_dim: int, device: Device = None):
        super().__init__()
        layers = []
        for i in range(int(round(math.log2(spatial)))):
            layers += [nn.Conv2d(cin if i == 0 else width, width, 3, 2, 1, device=device), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(width, style_dim, device=device)
        self.width = width

    def forward(self, x):
        return self.linear(self.convs(x).reshape(-1, self.width))


class GradualStyleEncoder(nn.Module):
    """IR-SE body with a feature pyramid; 3 coarse heads on the 16x16 map, 4 medium heads on
    the 32x32 map, the rest on the 64x64 map (for a 256x256 input). Output [N, n_styles, 512]."""

    COARSE = 3
    MIDDLE = 7

    def __init__(self, input_nc: int, spec: EncoderSpec = EncoderSpec(), device: Device = None):
        super().__init__()
        w = spec.widths
        self.input_layer = irse_input_layer(input_nc, w[0], device)
        self.body = irse_body(spec.units, w, device)
        self.styles = nn.ModuleList()
        for i in range(spec.n_styles):
            spatial = 16 if i < self.COARSE else 32 if i < self.MIDDLE else 64
            self.styles.append(StyleHead(w[3], spec.head, spatial, spec.style_dim, device))
        self.latlayer1 = nn.Conv2d(w[2], w[3], 1, 1, 0, device=device)
        self.latlayer2 = nn.Conv2d(w[1], w[3], 1, 1, 0, device=device)
        ends = [sum(spec.units[: i + 1]) - 1 for i in range(len(spec.units))]
        self.tap_fine, self.tap_middle = ends[1], ends[2]  # indices 6 and 20 at full size

    @staticmethod
    def _upsample_add(top, lateral):
        size = (lateral.shape[2], lateral.shape[3])
        return F.interpolate(top, size=size, mode='bilinear', align_corners=True) + lateral

    def forward(self, x):
        x = self.input_layer(x)
        c1 = c2 = None
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i == self.tap_fine:
                c1 = x
            elif i == self.tap_middle:
                c2 = x
        c3 = x
        codes = [self.styles[j](c3) for j in range(self.COARSE)]
        p2 = self._upsample_add(c3, self.latlayer1(c2))
        codes += [self.styles[j](p2) for j in range(self.COARSE, self.MIDDLE)]
        p1 = self._upsample_add(p2, self.latlayer2(c1))
        codes += [self.styles[j](p1) for j in range(self.MIDDLE, len(self.styles))]
        return torch.stack(codes, dim=1)
