"""StyleGAN2 generator in the rosinality layout of SAM's decoder.* (1024, 8-layer mapping
'style.*', 'noises.noise_*'), with plain tensor operations: a modulated convolution that scales
activations so the batch stays dynamic in ONNX, and noise from the stored buffers so every output
is deterministic. Also EqualLinear, which SAM's encoders import from here as the official code does."""
import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

Device = Optional[torch.device]


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
