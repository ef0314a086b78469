"""Compares the exporter's modules, built at full size on the meta device (no memory, no
weights), with the official key names and shapes in a layout fixture.

usage: check_layout.py <official-layout.json>
Prints one JSON line {"ok": true, "sam": 1413, ...} and exits 0, or names every difference
on stderr and exits 1.
"""
import json
import os
import sys

sys.dont_write_bytecode = True  # keep tools/export free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from archs import FULL, SAM, DexVGG, IrseBackbone, shapes_of  # noqa: E402


def compare(label, expected, found):
    problems = []
    for key, shape in expected.items():
        if key not in found:
            problems.append(f'{label}: module lacks official key {key} {list(shape)}')
        elif list(found[key]) != list(shape):
            problems.append(f'{label}: key {key} has shape {list(found[key])}, official {list(shape)}')
    for key in found:
        if key not in expected:
            problems.append(f'{label}: module has key {key} {list(found[key])} that the official checkpoint lacks')
    return problems


def main(path):
    with open(path, encoding='utf8') as f:
        layout = json.load(f)
    meta = torch.device('meta')
    sam = SAM(FULL, meta)
    problems = compare('sam_ffhq_aging.pt', layout['sam_ffhq_aging.pt']['state_dict'], shapes_of(sam))
    if list(sam.latent_avg.shape) != layout['sam_ffhq_aging.pt']['latent_avg']:
        problems.append(f'sam_ffhq_aging.pt: latent_avg {list(sam.latent_avg.shape)}, official '
                        f'{layout["sam_ffhq_aging.pt"]["latent_avg"]}')
    if sam.decoder.n_latent != layout['sam_ffhq_aging.pt']['latent_avg'][0]:
        problems.append(f'generator uses {sam.decoder.n_latent} codes, official {layout["sam_ffhq_aging.pt"]["latent_avg"][0]}')
    dex_expected = {k.replace('-', '_'): v for k, v in layout['dex_age_classifier.pth']['state_dict'].items()}
    problems += compare('dex_age_classifier.pth', dex_expected, shapes_of(DexVGG(FULL.vgg, meta)))
    irse_expected = layout['model_ir_se50.pth']['state_dict']
    problems += compare('model_ir_se50.pth', irse_expected, shapes_of(IrseBackbone(FULL.irse, meta)))
    if problems:
        for p in problems:
            sys.stderr.write(p + '\n')
        sys.exit(1)
    print(json.dumps({'ok': True, 'sam': len(layout['sam_ffhq_aging.pt']['state_dict']),
                      'dex': len(dex_expected), 'arcface': len(irse_expected)}))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.stderr.write('usage: check_layout.py <official-layout.json>\n')
        sys.exit(2)
    main(sys.argv[1])
