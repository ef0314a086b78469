"""PyTorch modules whose state_dict layout is that of the official SAM release checkpoints.

Written for the exporter: plain tensor operations only (no CUDA extensions), a modulated
convolution that scales activations so the batch size stays dynamic in ONNX, and noise
taken from the generator's stored buffers so every output is deterministic.

Layouts (key names and shapes) follow:
  * sam_ffhq_aging.pt  state_dict of SAM's pSp module: encoder.* (GradualStyleEncoder, IR-SE50
    body, 4 input channels), pretrained_encoder.* (the same with 3 channels), decoder.*
    (rosinality StyleGAN2 generator, 1024, 8-layer mapping 'style.*', 'noises.noise_*').
  * dex_age_classifier.pth  DEX VGG16 with a 101-way head ('fc8-101' in the release file).
  * model_ir_se50.pth  IR-SE50 ArcFace backbone for 112x112 input.

Every architecture takes a spec: FULL is the official size; SMALL keeps the topology
(resolutions, number of styles, 1024 output, 8-layer 512-wide mapping, 101 ages, 512-d
embedding) but narrows channels and shortens the IR-SE bodies so tests run in seconds.
"""
import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

Device = Optional[torch.device]


@dataclass(frozen=True)
class EncoderSpec:
    """GradualStyleEncoder: IR-SE body (units per stage, widths per stage), style heads."""

    units: Tuple[int, ...] = (3, 4, 14, 3)
    widths: Tuple[int, ...] = (64, 128, 256, 512)
    head: int = 512
    n_styles: int = 18
    style_dim: int = 512


@dataclass(frozen=True)
class GeneratorSpec:
    """StyleGAN2 generator (rosinality layout): output size, mapping, channels per resolution."""

    size: int = 1024
    style_dim: int = 512
    n_mlp: int = 8
    lr_mlp: float = 0.01
    channels: Tuple[Tuple[int, int], ...] = (
        (4, 512), (8, 512), (16, 512), (32, 512), (64, 512), (128, 256), (256, 128), (512, 64), (1024, 32),
    )


@dataclass(frozen=True)
class VggSpec:
    """DEX VGG16: widths of the five conv stages, hidden width of fc6/fc7, number of ages."""

    widths: Tuple[int, ...] = (64, 128, 256, 512, 512)
    hidden: int = 4096
    classes: int = 101


@dataclass(frozen=True)
class IrseSpec:
    """IR-SE ArcFace backbone for 112x112 input."""

    units: Tuple[int, ...] = (3, 4, 14, 3)
    widths: Tuple[int, ...] = (64, 128, 256, 512)
    embedding: int = 512


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


# ---------------------------------------------------------------------------------------------
# IR-SE building blocks (shared by the pSp/SAM encoders and the ArcFace backbone)


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


# ---------------------------------------------------------------------------------------------
# Equalized-learning-rate linear layer (StyleGAN2 and the style heads of the encoders)


class EqualLinear(nn.Module):
    """Linear layer whose weight is scaled at run time by lr_mul / sqrt(in_dim).

    With `activation`, a leaky ReLU (slope 0.2) scaled by sqrt(2) follows the bias, which is
    what the fused CUDA op of the original computes.
    """

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False, device: Device = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim, device=device) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init), device=device))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x):
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        if self.activation:
            out = F.leaky_relu(out, 0.2) * math.sqrt(2.0)
        return out


# ---------------------------------------------------------------------------------------------
# GradualStyleEncoder (pSp, as used twice by SAM)


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


# ---------------------------------------------------------------------------------------------
# StyleGAN2 generator (rosinality layout) with plain tensor operations


def fir_kernel(taps=(1.0, 3.0, 3.0, 1.0), gain: float = 1.0) -> torch.Tensor:
    """Separable FIR kernel: outer product of the taps, normalised to sum to `gain`."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum() * gain


def upfirdn2d(x, kernel, up: int = 1, pad: Tuple[int, int] = (0, 0)):
    """Zero-insertion upsampling by `up`, symmetric padding, then a per-channel 2-D FIR filter
    (true convolution, i.e. correlation with the flipped kernel). Plain ops, dynamic batch."""
    # Channel and spatial sizes are fixed for every layer; taking them as Python ints keeps the
    # filter's shape static in ONNX (only the batch stays dynamic).
    channels, height, width = int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
    if up > 1:
        x = x.reshape(-1, channels, height, 1, width, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(-1, channels, height * up, width * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    kh, kw = kernel.shape
    weight = torch.flip(kernel, [0, 1]).reshape(1, 1, kh, kw).expand(channels, 1, kh, kw)
    return F.conv2d(x, weight, groups=channels)


class Blur(nn.Module):
    """FIR low-pass after the transposed convolution of an upsampling layer."""

    def __init__(self, pad: Tuple[int, int], gain: float, device: Device = None):
        super().__init__()
        self.register_buffer('kernel', fir_kernel(gain=gain).to(device or 'cpu'))
        self.pad = pad
        self.reference = False

    def forward(self, x):
        if self.reference or self.pad[0] != self.pad[1]:
            return upfirdn2d(x, self.kernel, 1, self.pad)
        # Speed: the same filter with the (symmetric) padding done by the convolution itself, so
        # the ONNX graph has no separate Pad node (onnxruntime does not fold one into a grouped
        # Conv; it would cost one more pass over the largest tensors).
        channels = int(x.shape[1])
        kh, kw = self.kernel.shape
        weight = torch.flip(self.kernel, [0, 1]).reshape(1, 1, kh, kw).repeat(channels, 1, 1, 1)
        return F.conv2d(x, weight, padding=self.pad[0], groups=channels)


# Which tap of the flipped 4x4 kernel output phase a (row or column) takes from input pixel
# p - 1 + t, t = 0..2, in upfirdn2d(up=2, pad=(2, 1)); 4 is a zero tap.
_UP_TAPS = ((0, 2, 4), (4, 1, 3))


def upsample2x_phases(x, kernel):
    """upfirdn2d(x, kernel, up=2, pad=(2, 1)) for a 4x4 kernel, computed without the zero-filled
    intermediate: output pixel (2p + a, 2q + b) only sees input pixels p-1..p+1 (and q-1..q+1),
    so one grouped 3x3 convolution computes the four output phases (a, b) of every channel and
    a pixel shuffle (ONNX DepthToSpace) interleaves them. Along one axis, with f the flipped
    kernel: out[2p] = x[p-1] f[0] + x[p] f[2] and out[2p+1] = x[p] f[1] + x[p+1] f[3]."""
    channels = int(x.shape[1])
    f = F.pad(torch.flip(kernel, [0, 1]), (0, 1, 0, 1))  # index 4 reads a zero
    taps = torch.tensor(_UP_TAPS, device=f.device)
    weight = f[taps[:, None, :, None], taps[None, :, None, :]]  # [a, b, t, u]
    weight = weight.reshape(4, 1, 3, 3).repeat(channels, 1, 1, 1)  # output channel c*4 + a*2 + b
    return F.pixel_shuffle(F.conv2d(x, weight, padding=1, groups=channels), 2)


class Upsample(nn.Module):
    """2x FIR upsampling of the RGB skip path."""

    def __init__(self, device: Device = None):
        super().__init__()
        self.register_buffer('kernel', fir_kernel(gain=4.0).to(device or 'cpu'))
        self.pad = (2, 1)
        self.reference = False

    def forward(self, x):
        if self.reference or tuple(self.kernel.shape) != (4, 4):
            return upfirdn2d(x, self.kernel, 2, self.pad)
        # Speed, same function: about 2x faster in onnxruntime than zero insertion (a 6-D Pad)
        # followed by a padded grouped convolution.
        return upsample2x_phases(x, self.kernel)


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution.

    The original folds the per-sample style into a per-sample kernel and runs a grouped
    convolution (a kernel of data-dependent shape, which ONNX export cannot express with a
    dynamic batch). Here the style scales the input activations and the demodulation scales
    the output channels: conv(x * s, W) * d equals conv(x, W * s) * d exactly, because the
    style acts on input channels and the demodulation on output channels.
    `reference = True` switches to the original grouped formulation (used to check the claim).
    """

    def __init__(self, cin: int, cout: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, device: Device = None):
        super().__init__()
        self.cin, self.cout, self.kernel_size = cin, cout, kernel_size
        self.demodulate, self.upsample = demodulate, upsample
        if upsample:
            self.blur = Blur((1, 1), 4.0, device)
        self.scale = 1.0 / math.sqrt(cin * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, cout, cin, kernel_size, kernel_size, device=device))
        self.modulation = EqualLinear(style_dim, cin, bias_init=1.0, device=device)
        self.reference = False

    def forward(self, x, style, gain: float = 1.0):
        """`gain` multiplies the demodulation (StyledConv folds its activation gain into it)."""
        s = self.modulation(style)
        if self.reference:
            return self._grouped(x, s)
        weight = self.weight[0] * self.scale
        x = x * s.reshape(-1, self.cin, 1, 1)
        if self.upsample:
            out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            # The demodulation scales whole channels, so it commutes with the per-channel blur;
            # blurring first applies it to the smaller tensor.
            out = self.blur(out)
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            energy = weight.pow(2).sum([2, 3])  # [cout, cin]
            demod = torch.rsqrt(torch.matmul(s * s, energy.t()) + 1e-8)
            out = out * (demod * gain).reshape(-1, self.cout, 1, 1)
        elif gain != 1.0:
            out = out * gain
        return out

    def _grouped(self, x, s):
        n, _, h, w = x.shape
        k = self.kernel_size
        weight = self.scale * self.weight * s.reshape(n, 1, self.cin, 1, 1)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).reshape(n, self.cout, 1, 1, 1)
        x = x.reshape(1, n * self.cin, h, w)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(n * self.cin, self.cout, k, k)
            out = F.conv_transpose2d(x, weight, stride=2, groups=n)
            out = out.reshape(n, self.cout, out.shape[2], out.shape[3])
            return self.blur(out)
        out = F.conv2d(x, weight.reshape(n * self.cout, self.cin, k, k), padding=self.padding, groups=n)
        return out.reshape(n, self.cout, out.shape[2], out.shape[3])


class NoiseInjection(nn.Module):
    def __init__(self, device: Device = None):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, device=device))

    def forward(self, x, noise):
        return x + self.weight * noise


ACT_GAIN = math.sqrt(2.0)


class BiasLeakyReLU(nn.Module):
    """Per-channel bias, leaky ReLU with slope 0.2, gain sqrt(2) (the fused op, unfused)."""

    def __init__(self, channels: int, device: Device = None):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels, device=device))

    def forward(self, x):
        return F.leaky_relu(x + self.bias.reshape(1, -1, 1, 1), 0.2) * ACT_GAIN


class StyledConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 device: Device = None):
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, kernel_size, style_dim, upsample=upsample, device=device)
        self.noise = NoiseInjection(device)
        self.activate = BiasLeakyReLU(cout, device)
        self.reference = False

    def forward(self, x, style, noise):
        if self.reference:
            return self.activate(self.noise(self.conv(x, style), noise))
        # Speed, same function: leaky_relu(v) * g == leaky_relu(g * v) for g > 0, so the gain
        # sqrt(2) moves into the demodulation (a per-channel vector), the noise weight and the
        # bias instead of costing a multiply over the whole output.
        out = self.conv(x, style, gain=ACT_GAIN)
        out = out + (self.noise.weight * ACT_GAIN) * noise
        return F.leaky_relu(out + (self.activate.bias * ACT_GAIN).reshape(1, -1, 1, 1), 0.2)


class ToRGB(nn.Module):
    def __init__(self, cin: int, style_dim: int, upsample: bool = True, device: Device = None):
        super().__init__()
        if upsample:
            self.upsample = Upsample(device)
        self.conv = ModulatedConv2d(cin, 3, 1, style_dim, demodulate=False, device=device)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1, device=device))
        self.reference = False

    def forward(self, x, style, skip=None):
        if self.reference:
            out = self.conv(x, style)
        else:
            # Speed, same function: the 1x1 modulated convolution to 3 channels as one batched
            # matrix product, [N, 3, C] (weight times style) @ [N, C, H*W]. onnxruntime runs a
            # 3-channel Conv outside its fast (NCHWc) path, after a full-size multiply by the
            # style; this reads the activations once (about 5x faster at 1024).
            _, c, h, w = x.shape
            weight = self.conv.weight[0, :, :, 0, 0] * self.conv.scale  # [3, C]
            styled = weight.unsqueeze(0) * self.conv.modulation(style).unsqueeze(1)  # [N, 3, C]
            out = torch.matmul(styled, x.reshape(-1, int(c), int(h) * int(w))).reshape(-1, 3, int(h), int(w))
        out = out + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConstantInput(nn.Module):
    def __init__(self, channels: int, device: Device = None):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, 4, 4, device=device))

    def forward(self, batch_like):
        return self.input.expand(batch_like.shape[0], -1, -1, -1)


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class Generator(nn.Module):
    """StyleGAN2 generator; `forward(latent)` takes W+ codes [N, >=n_latent, style_dim]."""

    def __init__(self, spec: GeneratorSpec = GeneratorSpec(), device: Device = None):
        super().__init__()
        sd = spec.style_dim
        ch: Dict[int, int] = dict(spec.channels)
        self.size = spec.size
        self.style = nn.Sequential(
            PixelNorm(),
            *[EqualLinear(sd, sd, lr_mul=spec.lr_mlp, activation=True, device=device) for _ in range(spec.n_mlp)],
        )
        self.input = ConstantInput(ch[4], device)
        self.conv1 = StyledConv(ch[4], ch[4], 3, sd, device=device)
        self.to_rgb1 = ToRGB(ch[4], sd, upsample=False, device=device)
        self.log_size = int(round(math.log2(spec.size)))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f'noise_{i}', torch.randn(1, 1, res, res, device=device))
        cin = ch[4]
        for i in range(3, self.log_size + 1):
            cout = ch[2 ** i]
            self.convs.append(StyledConv(cin, cout, 3, sd, upsample=True, device=device))
            self.convs.append(StyledConv(cout, cout, 3, sd, device=device))
            self.to_rgbs.append(ToRGB(cout, sd, device=device))
            cin = cout

    def mapping(self, z):
        return self.style(z)

    def forward(self, latent, stop_at: Optional[int] = None):
        """Renders W+ codes with the stored noise. `stop_at` returns the RGB skip at that
        resolution instead of the full-size image (uses only the codes that far)."""
        noise = [getattr(self.noises, f'noise_{i}') for i in range(self.num_layers)]
        out = self.conv1(self.input(latent), latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        index, res = 1, 4
        for j, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * j](out, latent[:, index], noise[2 * j + 1])
            out = self.convs[2 * j + 1](out, latent[:, index + 1], noise[2 * j + 2])
            skip = to_rgb(out, latent[:, index + 2], skip)
            index, res = index + 2, res * 2
            if stop_at is not None and res >= stop_at:
                break
        return skip


def set_reference_mode(module: nn.Module, on: bool) -> None:
    """Switches every modulated convolution to (or from) the original grouped formulation, and
    the layers around it to (or from) the plain order of operations of the original (the other
    mode reorders them for speed; see Blur, StyledConv and ToRGB)."""
    for m in module.modules():
        if isinstance(m, (ModulatedConv2d, Blur, Upsample, StyledConv, ToRGB)):
            m.reference = on


# ---------------------------------------------------------------------------------------------
# DEX VGG16 and ArcFace IR-SE50


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


# ---------------------------------------------------------------------------------------------
# SAM: both encoders, the generator and latent_avg, with the official forward order


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
