"""Random-weight checkpoints in the official file formats, built from the exporter's modules.

usage: make_checkpoints.py --out DIR [--small] [--seed N] [--bad-cases]

Writes DIR/sam_ffhq_aging.pt ({'state_dict', 'latent_avg' [18,512], 'opts'}),
DIR/dex_age_classifier.pth ({'state_dict'} with the release's 'fc8-101' spelling) and
DIR/model_ir_se50.pth (a bare state_dict). With --bad-cases also the broken inputs the tests
feed the exporter: a pSp checkpoint, a truncated file, one with keys missing, one with a
wrong shape, one trained with start_from_latent_avg.
Weights are random but shaped like trained ones (BatchNorm statistics, non-zero noise gains and
biases, latent_avg as the mean of mapped z), so the parity check exercises every path.
"""
import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep tools/export free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from archs import ARCHS, SAM, BiasLeakyReLU, DexVGG, IrseBackbone, NoiseInjection, ToRGB  # noqa: E402


def perturb(module: nn.Module, gen: torch.Generator) -> None:
    """Gives the layers that the official init leaves trivial some random, plausible values."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                n = m.num_features
                m.weight.copy_(0.8 + 0.4 * torch.rand(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.8 + 0.4 * torch.rand(n, generator=gen))
                m.num_batches_tracked.fill_(1000)
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(0.25 + 0.05 * torch.randn(m.weight.shape, generator=gen))
            elif isinstance(m, NoiseInjection):
                m.weight.copy_(0.1 * torch.randn(1, generator=gen))
            elif isinstance(m, BiasLeakyReLU):
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
            elif isinstance(m, ToRGB):
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))


def he_init(modules, gen: torch.Generator, slope: float = 0.0) -> None:
    """Variance-keeping init for plain conv/linear layers, so that random outputs are not tiny."""
    with torch.no_grad():
        for m in modules:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / (1 + slope ** 2) / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.05 * torch.randn(m.bias.shape, generator=gen))


def build_sam(arch, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    sam = SAM(arch).eval()
    perturb(sam, gen)
    for enc in (sam.encoder, sam.pretrained_encoder):
        he_init(list(enc.styles.modules()) + [enc.latlayer1, enc.latlayer2], gen, 0.01)
    with torch.no_grad():
        # SAM starts the age channel's input weights from randn (models/psp.py); do the same.
        sam.encoder.input_layer[0].weight[:, 3].copy_(torch.randn(sam.encoder.input_layer[0].weight[:, 3].shape,
                                                                  generator=gen))
    with torch.no_grad():
        w = sam.decoder.style(torch.randn(2000, arch.generator.style_dim, generator=gen)).mean(0, keepdim=True)
    latent_avg = w.repeat(arch.encoder.n_styles, 1)
    opts = {'output_size': arch.generator.size, 'input_nc': 4, 'start_from_encoded_w_plus': True,
            'start_from_latent_avg': False, 'encoder_type': 'GradualStyleEncoder',
            'note': f'random weights ({arch.name}) made by tools/export/make_checkpoints.py'}
    return {'state_dict': sam.state_dict(), 'latent_avg': latent_avg, 'opts': opts}


def build_dex(arch, seed):
    torch.manual_seed(seed + 1)
    vgg = DexVGG(arch.vgg).eval()
    he_init(vgg.modules(), torch.Generator().manual_seed(seed + 1))
    return {'state_dict': {k.replace('fc8_101', 'fc8-101'): v for k, v in vgg.state_dict().items()}}


def build_arcface(arch, seed):
    torch.manual_seed(seed + 2)
    net = IrseBackbone(arch.irse).eval()
    perturb(net, torch.Generator().manual_seed(seed + 2))
    return net.state_dict()


def write_bad_cases(out, sam_ckpt):
    sd = sam_ckpt['state_dict']
    psp = {'state_dict': {}, 'latent_avg': sam_ckpt['latent_avg'][0].clone(), 'opts': {'input_nc': 3}}
    for k, v in sd.items():
        if k.startswith('pretrained_encoder.'):
            psp['state_dict']['encoder.' + k[len('pretrained_encoder.'):]] = v
        elif k.startswith('decoder.'):
            psp['state_dict'][k] = v
    torch.save(psp, os.path.join(out, 'psp_ffhq_encode.pt'))

    with open(os.path.join(out, 'sam_ffhq_aging.pt'), 'rb') as f:
        data = f.read()
    with open(os.path.join(out, 'truncated.pt'), 'wb') as f:
        f.write(data[: len(data) // 2])

    missing = dict(sam_ckpt, state_dict={k: v for k, v in sd.items()
                                          if k not in ('decoder.noises.noise_16', 'decoder.to_rgbs.7.bias')})
    torch.save(missing, os.path.join(out, 'missing_keys.pt'))

    wrong = dict(sd)
    wrong['encoder.input_layer.0.weight'] = sd['encoder.input_layer.0.weight'][:, :3].clone()
    torch.save(dict(sam_ckpt, state_dict=wrong), os.path.join(out, 'wrong_shape.pt'))

    opts = dict(sam_ckpt['opts'], start_from_latent_avg=True)
    torch.save(dict(sam_ckpt, opts=opts), os.path.join(out, 'latent_avg_start.pt'))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True)
    parser.add_argument('--small', action='store_true', help='reduced test size (see tools/export/README.md)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--bad-cases', action='store_true')
    args = parser.parse_args()
    arch = ARCHS['small' if args.small else 'full']
    os.makedirs(args.out, exist_ok=True)
    sam = build_sam(arch, args.seed)
    torch.save(sam, os.path.join(args.out, 'sam_ffhq_aging.pt'))
    torch.save(build_dex(arch, args.seed), os.path.join(args.out, 'dex_age_classifier.pth'))
    torch.save(build_arcface(arch, args.seed), os.path.join(args.out, 'model_ir_se50.pth'))
    if args.bad_cases:
        write_bad_cases(args.out, sam)
    print(f'wrote {arch.name} random checkpoints to {args.out}')


if __name__ == '__main__':
    main()
