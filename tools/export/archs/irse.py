"""IR-SE building blocks (shared by the pSp/SAM encoders) and the ArcFace IR-SE50 backbone
(layout of model_ir_se50.pth, 112x112 input)."""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import nn

Device = Optional[torch.device]


@dataclass(frozen=True)
class IrseSpec:
    """IR-SE ArcFace backbone for 112x112 input."""

    units: Tuple[int, ...] = (3, 4, 14, 3)
    widths: Tuple[int, ...] = (64, 128, 256, 512)
    embedding: int = 512


class SqueezeExcite(nn.Module):
    """Channel gate: global average, 1x1 down by `reduction`, ReLU, 1x1 up, sigmoid."""

    def __init__(self, channels: int, reduction: int = 16, device: Device = None):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False, device=device)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False, device=device)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))
        return x * gate


class IrseUnit(nn.Module):
    """One IR-SE residual unit; the stride sits on the second 3x3 convolution."""

    def __init__(self, cin: int, depth: int, stride: int, device: Device = None):
        super().__init__()
        if cin == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(cin, depth, 1, stride, bias=False, device=device),
                nn.BatchNorm2d(depth, device=device),
            )
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(cin, device=device),
            nn.Conv2d(cin, depth, 3, 1, 1, bias=False, device=device),
            nn.PReLU(depth, device=device),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False, device=device),
            nn.BatchNorm2d(depth, device=device),
            SqueezeExcite(depth, 16, device=device),
        )

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


def irse_body(units: Tuple[int, ...], widths: Tuple[int, ...], device: Device = None) -> nn.Sequential:
    """Stages of IR-SE units; the first unit of every stage halves the resolution."""
    layers = []
    cin = widths[0]
    for count, depth in zip(units, widths):
        for i in range(count):
            layers.append(IrseUnit(cin if i == 0 else depth, depth, 2 if i == 0 else 1, device))
        cin = depth
    return nn.Sequential(*layers)


def irse_input_layer(channels: int, width: int, device: Device = None) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, 1, 1, bias=False, device=device),
        nn.BatchNorm2d(width, device=device),
        nn.PReLU(width, device=device),
    )


class IrseBackbone(nn.Module):
    """ArcFace IR-SE50 for 112x112 input; returns the L2-normalised embedding."""

    def __init__(self, spec: IrseSpec = IrseSpec(), device: Device = None):
        super().__init__()
        w = spec.widths
        self.input_layer = irse_input_layer(3, w[0], device)
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(w[3], device=device),
            nn.Dropout(0.6),
            nn.Flatten(),
            nn.Linear(w[3] * 7 * 7, spec.embedding, device=device),
            nn.BatchNorm1d(spec.embedding, device=device),
        )
        self.body = irse_body(spec.units, w, device)

    def forward(self, x):
        x = self.output_layer(self.body(self.input_layer(x)))
        return x / torch.norm(x, 2, 1, True)
