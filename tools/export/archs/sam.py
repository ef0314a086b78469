"""SAM (sam_ffhq_aging.pt): both encoders, the generator and latent_avg with the official
forward order, and the architecture specs: FULL is the official size; SMALL keeps the topology
(resolutions, number of styles, 1024 output, 8-layer 512-wide mapping, 101 ages, 512-d embedding)
but narrows channels and shortens the IR-SE bodies so tests run in seconds."""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .dex import VggSpec
from .irse import IrseSpec
from .psp import EncoderSpec, GradualStyleEncoder
from .stylegan2 import Generator, GeneratorSpec, set_reference_mode

Device = Optional[torch.device]


@dataclass(frozen=True)
class Arch:
    name: str
    encoder: EncoderSpec
    generator: GeneratorSpec
    vgg: VggSpec
    irse: IrseSpec


FULL = Arch('full', EncoderSpec(), GeneratorSpec(), VggSpec(), IrseSpec())

# Test-only reduced size. Same graph topology and the same contract shapes; narrower channels
# and one or two IR-SE units per stage instead of 3/4/14/3.
SMALL = Arch(
    'small',
    EncoderSpec(units=(1, 2, 2, 1), widths=(16, 32, 64, 128), head=32),
    GeneratorSpec(channels=((4, 32), (8, 32), (16, 32), (32, 32), (64, 16), (128, 16), (256, 8), (512, 8), (1024, 4))),
    VggSpec(widths=(8, 16, 32, 64, 64), hidden=128),
    IrseSpec(units=(1, 2, 2, 1), widths=(16, 32, 64, 128)),
)

ARCHS = {'full': FULL, 'small': SMALL}


class SAM(nn.Module):
    """state_dict = encoder.*, decoder.*, pretrained_encoder.* (latent_avg is kept beside it,
    as in the release file, not in the state_dict)."""

    def __init__(self, arch: Arch = FULL, device: Device = None):
        super().__init__()
        self.encoder = GradualStyleEncoder(4, arch.encoder, device)
        self.decoder = Generator(arch.generator, device)
        self.pretrained_encoder = GradualStyleEncoder(3, arch.encoder, device)
        self.latent_avg = torch.zeros(arch.encoder.n_styles, arch.encoder.style_dim, device=device)

    def forward_official(self, x4, resize: bool = True):
        """What SAM's pSp.forward computes with start_from_encoded_w_plus and stored noise:
        codes = encoder(x4) + (pretrained_encoder(x4[:, :-1]) + latent_avg), rendered by the
        generator in the original grouped formulation, average-pooled to 256 when `resize`."""
        codes = self.encoder(x4)
        encoded = self.pretrained_encoder(x4[:, :-1]) + self.latent_avg
        codes = codes + encoded
        set_reference_mode(self.decoder, True)
        try:
            images = self.decoder(codes)
        finally:
            set_reference_mode(self.decoder, False)
        if resize:
            images = F.adaptive_avg_pool2d(images, (256, 256))
        return codes, images


def age_channel(image, age):
    """SAM's 4th input channel: target age / 100 over the whole image (SAM itself truncates
    the age to an integer first; fractional ages are kept here)."""
    return (age / 100.0).reshape(-1, 1, 1, 1).expand(-1, 1, image.shape[2], image.shape[3])


def shapes_of(module: nn.Module) -> Dict[str, Tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}
