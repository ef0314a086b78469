"""DEX VGG16 age classifier (layout of dex_age_classifier.pth)."""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

Device = Optional[torch.device]


@dataclass(frozen=True)
class VggSpec:
    """DEX VGG16: widths of the five conv stages, hidden width of fc6/fc7, number of ages."""

    widths: Tuple[int, ...] = (64, 128, 256, 512, 512)
    hidden: int = 4096
    classes: int = 101


class DexVGG(nn.Module):
    """VGG16 as in SAM's dex_vgg.py: 13 convolutions with ReLU, 2x2 max pools, fc6/fc7 with
    ReLU, fc8_101 logits over ages 0..100. The release file spells the last layer 'fc8-101'."""

    STAGES = (2, 2, 3, 3, 3)

    def __init__(self, spec: VggSpec = VggSpec(), device: Device = None):
        super().__init__()
        cin = 3
        self.conv_names = []
        self.pool_after = set()
        for stage, (count, width) in enumerate(zip(self.STAGES, spec.widths)):
            for j in range(count):
                name = f'conv{stage + 1}_{j + 1}'
                setattr(self, name, nn.Conv2d(cin, width, 3, padding=1, device=device))
                self.conv_names.append(name)
                cin = width
            self.pool_after.add(self.conv_names[-1])
        self.fc6 = nn.Linear(spec.widths[-1] * 7 * 7, spec.hidden, device=device)
        self.fc7 = nn.Linear(spec.hidden, spec.hidden, device=device)
        self.fc8_101 = nn.Linear(spec.hidden, spec.classes, device=device)

    def forward(self, x):
        for name in self.conv_names:
            x = F.relu(getattr(self, name)(x))
            if name in self.pool_after:
                x = F.max_pool2d(x, 2, 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc6(x))
        x = F.relu(self.fc7(x))
        return self.fc8_101(x)
