"""PyTorch modules whose state_dict layout is that of the official SAM release checkpoints, one
file per official module family:

  * irse.py       IR-SE units and bodies; the ArcFace IR-SE50 backbone (model_ir_se50.pth).
  * psp.py        pSp's GradualStyleEncoder (SAM's encoder.* and pretrained_encoder.*).
  * stylegan2.py  the rosinality StyleGAN2 generator (decoder.*) and EqualLinear.
  * dex.py        DEX VGG16 with a 101-way head (dex_age_classifier.pth, 'fc8-101' in the file).
  * sam.py        SAM itself (sam_ffhq_aging.pt) and the specs FULL and SMALL.

Written for the exporter: plain tensor operations only (no CUDA extensions). The names below are
the package's interface; the exporter's scripts import them from `archs`.
"""
from .dex import DexVGG, VggSpec
from .irse import IrseBackbone, IrseSpec
from .psp import EncoderSpec, GradualStyleEncoder
from .sam import ARCHS, FULL, SAM, SMALL, Arch, age_channel, shapes_of
from .stylegan2 import BiasLeakyReLU, Generator, GeneratorSpec, NoiseInjection, ToRGB, set_reference_mode

__all__ = [
    'ARCHS', 'FULL', 'SAM', 'SMALL', 'Arch', 'BiasLeakyReLU', 'DexVGG', 'EncoderSpec', 'Generator',
    'GeneratorSpec', 'GradualStyleEncoder', 'IrseBackbone', 'IrseSpec', 'NoiseInjection', 'ToRGB',
    'VggSpec', 'age_channel', 'set_reference_mode', 'shapes_of',
]
