"""Writes test/fixtures/export/official-layout.json from the project's shared checkpoint layout.

usage: derive_layout_fixture.py <sam-checkpoint-layout.json> <out.json>

Copied as they are: the key names and shapes of sam_ffhq_aging.pt (state_dict, latent_avg) and
dex_age_classifier.pth. The shared layout does not list model_ir_se50.pth; its section here is
derived and marked so: SAM's model_irse.py Backbone(112, 50, 'ir_se') has the same input_layer
and body as the pSp encoder (so those keys are taken from pretrained_encoder.* with the prefix
dropped) plus output_layer = BatchNorm2d(512), Dropout, Flatten, Linear(512*7*7, 512),
BatchNorm1d(512).
"""
import json
import sys


def bn(prefix, n):
    return {f'{prefix}.weight': [n], f'{prefix}.bias': [n], f'{prefix}.running_mean': [n],
            f'{prefix}.running_var': [n], f'{prefix}.num_batches_tracked': []}


def main(src, dst):
    with open(src, encoding='utf8') as f:
        layout = json.load(f)
    sam = layout['sam_ffhq_aging.pt']
    dex = layout['dex_age_classifier.pth']
    irse = {}
    for key, shape in sam['state_dict'].items():
        if key.startswith('pretrained_encoder.input_layer.'):
            irse[key[len('pretrained_encoder.'):]] = shape
    irse.update(bn('output_layer.0', 512))
    irse['output_layer.3.weight'] = [512, 512 * 7 * 7]
    irse['output_layer.3.bias'] = [512]
    irse.update(bn('output_layer.4', 512))
    for key, shape in sam['state_dict'].items():
        if key.startswith('pretrained_encoder.body.'):
            irse[key[len('pretrained_encoder.'):]] = shape
    fixture = {
        'about': 'Key names and tensor shapes of the official checkpoints, for the exporter tests. '
                 'sam_ffhq_aging.pt and dex_age_classifier.pth are copied from the project\'s shared '
                 'checkpoint layout; model_ir_se50.pth is derived (see its "derived" note).',
        'sam_ffhq_aging.pt': {
            'top_level_keys': sam['top_level_keys'],
            'latent_avg': sam['latent_avg'],
            'state_dict': sam['state_dict'],
        },
        'dex_age_classifier.pth': {
            'top_level_keys': dex['top_level_keys'],
            'note': dex.get('note', ''),
            'state_dict': dex['state_dict'],
        },
        'model_ir_se50.pth': {
            'derived': 'not in the shared layout: input_layer.* and body.* are pretrained_encoder.* of '
                       'sam_ffhq_aging.pt without the prefix (same IR-SE50 backbone); output_layer.* follows '
                       'SAM models/encoders/model_irse.py for input_size 112. The file is a bare state_dict.',
            'state_dict': irse,
        },
    }
    with open(dst, 'w', encoding='utf8') as f:
        f.write(dump(fixture, 0) + '\n')


def dump(value, depth):
    """JSON with one key per line and every shape (a list) kept on its line."""
    if isinstance(value, dict):
        pad = '  ' * (depth + 1)
        items = [f'{pad}{json.dumps(k)}: {dump(v, depth + 1)}' for k, v in value.items()]
        return '{\n' + ',\n'.join(items) + '\n' + '  ' * depth + '}'
    return json.dumps(value)


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.stderr.write('usage: derive_layout_fixture.py <sam-checkpoint-layout.json> <out.json>\n')
        sys.exit(2)
    main(sys.argv[1], sys.argv[2])
