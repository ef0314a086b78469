"""Parity between the PyTorch modules and the exported ONNX files run by onnxruntime-node.

The same random inputs (batch 2) go through both; verify.mjs runs the ONNX side. Reported per
output: max and mean absolute difference. Beyond per-model parity, two checks against SAM's own
forward (pSp.forward with start_from_encoded_w_plus, stored noise, 256 face pool):
  codes:  inversion.onnx + aging.onnx == encoder(x, age) + pretrained_encoder(x) + latent_avg
  render: generator.onnx on those codes, average-pooled to 256 == SAM's rendered image, with the
          generator in the original grouped-weight formulation.
"""
import json
import os
import subprocess
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F

from archs import SAM, age_channel
from checkpoints import ExportError
from graphs import AgeGraph, AgingGraph, GeneratorGraph, IdentityGraph, InversionGraph, MappingGraph

HERE = os.path.dirname(os.path.abspath(__file__))
LATENT_TOL = 1e-3
IMAGE_TOL = 1e-2
# output -> tolerance. Latents, probabilities and unit embeddings: 1e-3; images and years: 1e-2.
TOLERANCES = {
    ('inversion', 'latent'): LATENT_TOL, ('aging', 'delta'): LATENT_TOL, ('mapping', 'w'): LATENT_TOL,
    ('generator', 'image'): IMAGE_TOL, ('generator-256', 'image'): IMAGE_TOL, ('generator-512', 'image'): IMAGE_TOL,
    ('age', 'age'): IMAGE_TOL, ('age', 'probs'): LATENT_TOL, ('identity', 'embedding'): LATENT_TOL,
}


def _save(scratch, name, tensor):
    arr = tensor.detach().cpu().numpy().astype('<f4')
    arr.tofile(os.path.join(scratch, name))
    return {'file': name, 'shape': list(arr.shape)}


def _load(scratch, name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(scratch, name), dtype='<f4').reshape(shape).copy())


def _diff(a, b, tol):
    d = (a.double() - b.double()).abs()
    return {'max_abs': float(d.max()), 'mean_abs': float(d.mean()), 'tolerance': tol,
            'pass': bool(d.max() <= tol) and bool(torch.isfinite(a).all())}


def run_parity(folder: str, scratch: str, sam: SAM, dex=None, arcface=None, node: str = 'node',
               batch: int = 2) -> Dict:
    """Writes inputs to `scratch`, runs verify.mjs on `folder`, compares; returns the report."""
    gen = torch.Generator().manual_seed(2021)
    image = torch.rand(batch, 3, 256, 256, generator=gen) * 2 - 1
    ages = torch.tensor([float(a) for a in np.linspace(20, 70, batch).round()])
    cases = [
        {'id': 'inversion', 'model': 'inversion.onnx', 'inputs': {'image': _save(scratch, 'image.f32', image)}},
        {'id': 'aging', 'model': 'aging.onnx',
         'inputs': {'image': {'file': 'image.f32', 'shape': list(image.shape)}, 'age': _save(scratch, 'age.f32', ages)}},
        {'id': 'generator', 'model': 'generator.onnx',
         'inputs': {'latent': {'sum': [['inversion', 'latent'], ['aging', 'delta']]}}},
        {'id': 'generator-512', 'model': 'generator-512.onnx',
         'inputs': {'latent': {'sum': [['inversion', 'latent'], ['aging', 'delta']]}}},
        {'id': 'generator-256', 'model': 'generator-256.onnx',
         'inputs': {'latent': {'sum': [['inversion', 'latent'], ['aging', 'delta']]}}},
        {'id': 'mapping', 'model': 'mapping.onnx',
         'inputs': {'z': _save(scratch, 'z.f32', torch.randn(batch, 512, generator=gen))}},
    ]
    if dex is not None:
        x = torch.rand(batch, 3, 224, 224, generator=gen) * 2 - 1
        cases.append({'id': 'age', 'model': 'age.onnx', 'inputs': {'image': _save(scratch, 'face224.f32', x)}})
    if arcface is not None:
        x = torch.rand(batch, 3, 112, 112, generator=gen) * 2 - 1
        cases.append({'id': 'identity', 'model': 'identity.onnx', 'inputs': {'image': _save(scratch, 'face112.f32', x)}})
    with open(os.path.join(scratch, 'cases.json'), 'w', encoding='utf8') as f:
        json.dump({'cases': cases}, f)

    proc = subprocess.run([node, os.path.join(HERE, 'verify.mjs'), folder, scratch], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise ExportError(f'onnxruntime-node could not run the exported models: {lines[-1] if lines else "exit " + str(proc.returncode)}')
    with open(os.path.join(scratch, 'results.json'), encoding='utf8') as f:
        results = json.load(f)

    modules = {
        'inversion': InversionGraph(sam), 'aging': AgingGraph(sam), 'generator': GeneratorGraph(sam.decoder),
        'generator-512': GeneratorGraph(sam.decoder, 512),
        'generator-256': GeneratorGraph(sam.decoder, 256), 'mapping': MappingGraph(sam.decoder),
    }
    if dex is not None:
        modules['age'] = AgeGraph(dex)
    if arcface is not None:
        modules['identity'] = IdentityGraph(arcface)

    report = {'batch': batch, 'tolerances': {'latents': LATENT_TOL, 'images': IMAGE_TOL}, 'models': {}, 'checks': {},
              'onnxruntime_ms': {}}
    ort_out = {}
    with torch.no_grad():
        for case in cases:
            cid = case['id']
            res = results[cid]
            feeds = []
            for name, spec in case['inputs'].items():
                spec = spec if 'file' in spec else res['inputs'][name]
                feeds.append(_load(scratch, spec['file'], spec['shape']))
            torch_out = modules[cid](*feeds)
            torch_out = torch_out if isinstance(torch_out, tuple) else (torch_out,)
            report['models'][cid] = {}
            for (name, shape), ref in zip(res['outputs'].items(), torch_out):
                got = _load(scratch, f'{cid}.{name}.f32', shape)
                ort_out[(cid, name)] = got
                if list(ref.shape) != list(shape):
                    raise ExportError(f'{cid}.onnx output {name} has shape {shape}, PyTorch gives {list(ref.shape)}')
                report['models'][cid][name] = _diff(got, ref, TOLERANCES[(cid, name)])
            report['onnxruntime_ms'][cid] = res['ms']

        x4 = torch.cat([image, age_channel(image, ages)], dim=1)
        codes, rendered = sam.forward_official(x4, resize=True)
        onnx_codes = ort_out[('inversion', 'latent')] + ort_out[('aging', 'delta')]
        report['checks']['codes_vs_sam_forward'] = _diff(onnx_codes, codes, LATENT_TOL)
        pooled = F.adaptive_avg_pool2d(ort_out[('generator', 'image')], (256, 256))
        report['checks']['render_vs_sam_forward'] = _diff(pooled, rendered, IMAGE_TOL)

    report['pass'] = all(v['pass'] for m in report['models'].values() for v in m.values()) and \
        all(v['pass'] for v in report['checks'].values())
    return report


def first_failure(report: Dict) -> Optional[str]:
    for model, outs in report['models'].items():
        for name, d in outs.items():
            if not d['pass']:
                return f'{model}.onnx output {name}: max abs difference {d["max_abs"]:.3g} > {d["tolerance"]:g}'
    for name, d in report['checks'].items():
        if not d['pass']:
            return f'{name}: max abs difference {d["max_abs"]:.3g} > {d["tolerance"]:g}'
    return None
