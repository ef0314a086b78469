"""The graphs of a model folder (DESIGN.md, "Model contracts"), their ONNX export and manifests.

The contract table is mirrored from lib/contracts/contracts.ts (CONTRACT_VERSION 1); the
tests check every exported folder with that TypeScript code.
"""
import json
import warnings
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from archs import SAM, DexVGG, Generator, IrseBackbone, age_channel

CONTRACT_VERSION = 1
OPSET = 17
EXPORTER_VERSION = '1.1.0'
EXPORTER = f'tools/export {EXPORTER_VERSION} (torch {torch.__version__.split("+")[0]})'

IMAGE = [-1, 1]
# role -> (inputs, outputs); each value: (shape, range or None). 'N' batch, 'R' resolution.
CONTRACTS = {
    'inversion': ({'image': (['N', 3, 256, 256], IMAGE)}, {'latent': (['N', 18, 512], None)}),
    'aging': ({'image': (['N', 3, 256, 256], IMAGE), 'age': (['N'], [0, 100])}, {'delta': (['N', 18, 512], None)}),
    'generator': ({'latent': (['N', 18, 512], None)}, {'image': (['N', 3, 'R', 'R'], IMAGE)}),
    'mapping': ({'z': (['N', 512], None)}, {'w': (['N', 512], None)}),
    'age': ({'image': (['N', 3, 224, 224], IMAGE)}, {'age': (['N'], None), 'probs': (['N', 101], None)}),
    'identity': ({'image': (['N', 3, 112, 112], IMAGE)}, {'embedding': (['N', 512], None)}),
}


class InversionGraph(nn.Module):
    """Frozen pSp encoder codes plus latent_avg: SAM's encoded_latents."""

    def __init__(self, sam: SAM):
        super().__init__()
        self.encoder = sam.pretrained_encoder
        self.register_buffer('latent_avg', sam.latent_avg.clone())

    def forward(self, image):
        return self.encoder(image) + self.latent_avg


class AgingGraph(nn.Module):
    """SAM's aging encoder on RGB + the age channel (age / 100): the delta added to inversion."""

    def __init__(self, sam: SAM):
        super().__init__()
        self.encoder = sam.encoder

    def forward(self, image, age):
        return self.encoder(torch.cat([image, age_channel(image, age)], dim=1))


class GeneratorGraph(nn.Module):
    def __init__(self, decoder: Generator, stop_at: Optional[int] = None):
        super().__init__()
        self.decoder = decoder
        self.stop_at = stop_at

    def forward(self, latent):
        return self.decoder(latent, self.stop_at)


class MappingGraph(nn.Module):
    def __init__(self, decoder: Generator):
        super().__init__()
        self.style = decoder.style

    def forward(self, z):
        return self.style(z)


class AgeGraph(nn.Module):
    """DEX: softmax over the 101 ages and its expectation. SAM's aging loss feeds the [-1,1]
    RGB image (resized to 224) straight into the VGG, with no further normalisation; the same
    is done here, so the graph's input is the contract's [-1,1] image as it is."""

    def __init__(self, vgg: DexVGG):
        super().__init__()
        self.vgg = vgg
        self.register_buffer('ages', torch.arange(vgg.fc8_101.out_features, dtype=torch.float32))

    def forward(self, image):
        probs = F.softmax(self.vgg(image), dim=1)
        return (probs * self.ages).sum(dim=1), probs


class IdentityGraph(nn.Module):
    def __init__(self, backbone: IrseBackbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, image):
        return self.backbone(image)


def example_inputs(role: str, batch: int = 2) -> List[torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    inputs = []
    for name, (shape, rng) in CONTRACTS[role][0].items():
        dims = [batch if d == 'N' else d for d in shape]
        x = torch.rand(*dims, generator=gen)
        if name == 'age':
            x = x * 100
        elif rng == IMAGE:
            x = x * 2 - 1
        else:
            x = torch.randn(*dims, generator=gen)
        inputs.append(x)
    return inputs


def export_onnx(module: nn.Module, role: str, path: str) -> None:
    """Traces `module` with a batch of 2 and writes ONNX with a dynamic batch named N."""
    inputs, outputs = CONTRACTS[role]
    names_in, names_out = list(inputs), list(outputs)
    dynamic = {name: {0: 'N'} for name in names_in + names_out}
    module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(module, tuple(example_inputs(role)), path, input_names=names_in, output_names=names_out,
                          dynamic_axes=dynamic, opset_version=OPSET, do_constant_folding=True)


def manifest(role: str, *, resolution: Optional[int] = None, source: Optional[Dict[str, str]] = None,
             variant: str = 'full', notes: Optional[Dict[str, str]] = None) -> Dict:
    def spec(shape, rng):
        out = {'type': 'float32', 'shape': [resolution if d == 'R' else d for d in shape]}
        if rng is not None:
            out['range'] = list(rng)
        return out

    inputs, outputs = CONTRACTS[role]
    doc = {
        'contract': CONTRACT_VERSION,
        'role': role,
        'inputs': {k: spec(*v) for k, v in inputs.items()},
        'outputs': {k: spec(*v) for k, v in outputs.items()},
    }
    if resolution is not None:
        doc['resolution'] = resolution
    doc.update({'opset': OPSET, 'exporter': EXPORTER, 'source': source, 'variant': variant})
    if notes:
        doc['notes'] = notes
    return doc


def to_json(value, depth: int = 0) -> str:
    """JSON indented by object, with lists (shapes, ranges) kept on one line."""
    if isinstance(value, dict) and value:
        pad = '  ' * (depth + 1)
        items = [f'{pad}{json.dumps(k)}: {to_json(v, depth + 1)}' for k, v in value.items()]
        return '{\n' + ',\n'.join(items) + '\n' + '  ' * depth + '}'
    return json.dumps(value)


def write_json(path: str, doc) -> None:
    with open(path, 'w', encoding='utf8') as f:
        f.write(to_json(doc) + '\n')
