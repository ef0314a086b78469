"""int8 variants of a model folder: static quantization in QDQ form, calibrated, with a quality report.

usage: /usr/bin/python3 tools/export/quantize.py --models FOLDER [--calibration DIR] [--node node]
       (or `npm run models:export -- ... --int8`, which runs the same code before the folder is renamed)

For inversion, aging, the generators and age (the ones present): Conv, and MatMul/Gemm
with a large weight, get int8 weights (per output channel, symmetric) and uint8 activations
(per tensor, asymmetric, min/max of the float graph on calibration inputs); onnxruntime fuses each
DequantizeLinear -> op -> QuantizeLinear group into its int8 kernel (QLinearConv and the like).
Calibration and the quality report run in onnxruntime-node (lib/quantize/calibrate.ts): the
tensors quantized are ONNX tensors, and only onnxruntime runs the int8 graph, so both the ranges
and the report come from the runtime the nodes use. The graph rewrite is written here with the
onnx package (onnxruntime's Python quantizer is not packaged for Debian).

Without --calibration the folder makes its own inputs: random z through mapping and the generator
gives faces for the encoders; their codes (inversion + aging) feed the generators, the renders
feed age. Held-out inputs (another seed) measure the int8 graph against the float32 one; a
variant that misses a threshold (THRESHOLDS) is not written and the failing figure is named.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Set

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CALIBRATE_JS = os.path.join(ROOT, 'dist', 'lib', 'quantize', 'calibrate.js')

# File stems that get an int8 variant. mapping (8 small layers, run once per random style) and
# identity (a check, not on the render path) stay float32.
INT8_MODELS = ('inversion', 'aging', 'generator', 'generator-512', 'generator-256', 'age')
QUANTIZER_VERSION = '1'

# Quality thresholds of an int8 variant against its float32 graph, on held-out inputs.
#  psnr_db: worst image of the held-out set; 30 dB at peak-to-peak 2 is an RMS error of 1.6% of
#    the range, about 2 grey levels of 255: below what a person sees on a face beside its
#    float twin, and well under the difference two ages make.
#  age_years: DEX's own error on real faces is several years; 1 year keeps the regressor and the
#    age path (path-optimize steers by it) where float32 puts them.
#  identity_cosine: the same render, int8 against float32; SAM's own aged faces keep about 0.6
#    against their input, so 0.95 leaves identity to the aging, not to the precision.
#  wplus_rel_mean: mean |w+ int8 - w+ float| over the spread (std) of the float codes; 10% keeps
#    the codes where the generator renders the same face (the image figures check the effect).
THRESHOLDS = {'psnr_db': 30.0, 'age_years': 1.0, 'identity_cosine': 0.95, 'wplus_rel_mean': 0.1}

# A layer whose estimated int8 signal-to-noise ratio (weights, or its input or output activation
# over the calibration range) is below this stays float32: 8 bits give about 48 dB on a uniform
# signal, so 20 dB means outliers stretch the range about 20-fold past the typical value.
SCREEN_DB = 20.0
# When a variant misses a threshold, a second try keeps this share of the worst-screened layers float.
RETRY_FLOAT_SHARE = 0.25
# MatMul and Gemm below this many weights cost little and often set styles: they stay float32.
MIN_MATMUL_WEIGHTS = 65536
CALIBRATION_SAMPLES = 8
HELDOUT_SAMPLES = 4


class QuantizeError(Exception):
    """Bad input to the quantizer (missing folder, no calibration images, ...)."""


def _initializers(model) -> Dict[str, onnx.TensorProto]:
    return {t.name: t for t in model.graph.initializer}


def candidates(model) -> List[Dict]:
    """The nodes that can take int8: Conv with a constant weight, MatMul/Gemm with a large constant weight,
    AveragePool. Returns dicts with node index, op, weight name and per-channel axis."""
    inits = _initializers(model)
    found = []
    for i, node in enumerate(model.graph.node):
        if node.op_type not in ('Conv', 'MatMul', 'Gemm', 'AveragePool'):
            continue
        entry = {'index': i, 'name': node.name or f'{node.op_type}_{i}', 'op': node.op_type,
                 'input': node.input[0], 'output': node.output[0], 'weight': None, 'axis': None}
        if node.op_type == 'Conv' and node.input[1] in inits:
            entry.update(weight=node.input[1], axis=0)
        elif node.op_type in ('MatMul', 'Gemm') and node.input[1] in inits:
            w = inits[node.input[1]]
            if len(w.dims) != 2 or int(np.prod(w.dims)) < MIN_MATMUL_WEIGHTS:
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == 'Gemm' and (attrs.get('transA', 0) or attrs.get('alpha', 1.0) != 1.0):
                continue
            transposed = node.op_type == 'Gemm' and attrs.get('transB', 0)
            entry.update(weight=node.input[1], axis=0 if transposed else 1)
        elif node.op_type != 'AveragePool':
            continue
        found.append(entry)
    return found


def observed_tensors(cands: List[Dict]) -> List[str]:
    names = []
    for c in cands:
        for t in (c['input'], c['output']):
            if t not in names:
                names.append(t)
    return names


def write_observer(model, tensors: List[str], path: str) -> None:
    """The float graph with the tensors to calibrate added as outputs."""
    observer = onnx.ModelProto()
    observer.CopyFrom(model)
    present = {o.name for o in observer.graph.output}
    for t in tensors:
        if t not in present:
            observer.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
    onnx.save(observer, path)


def weight_scales(w: np.ndarray, axis: int):
    """Symmetric int8 per channel along `axis`: scale = max|w| / 127 (1 for an all-zero channel)."""
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    peak = np.abs(moved).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def weight_sqnr_db(w: np.ndarray, axis: int) -> float:
    q, scale = weight_scales(w, axis)
    shape = [1] * w.ndim
    shape[axis] = -1
    err = w - q.astype(np.float32) * scale.reshape(shape)
    return _db(float((w.astype(np.float64) ** 2).mean()), float((err.astype(np.float64) ** 2).mean()))


def _db(signal: float, noise: float) -> float:
    if noise <= 0:
        return 120.0
    if signal <= 0:
        return 0.0
    return min(120.0, 10 * math.log10(signal / noise))


def activation_params(lo: float, hi: float):
    """uint8 asymmetric over the calibrated range, widened to hold 0 (so zero padding is exact)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zero = int(np.clip(round(-lo / scale), 0, 255))
    return float(scale), zero


def activation_sqnr_db(stat: Dict) -> float:
    """Signal (mean square over the calibration set) against uniform rounding noise (scale^2 / 12)."""
    scale, _ = activation_params(stat['min'], stat['max'])
    return _db(stat['sumsq'] / max(stat['count'], 1), scale * scale / 12.0)


def screen(model, cands: List[Dict], stats: Dict[str, Dict]) -> List[Dict]:
    """Adds each candidate's worst estimated SQNR (weights, input, output) and what set it."""
    inits = _initializers(model)
    for c in cands:
        figures = {}
        for side in ('input', 'output'):
            stat = stats.get(c[side])
            if stat is None or stat['count'] == 0:
                figures[side] = 0.0
            else:
                figures[side] = activation_sqnr_db(stat)
        if c['weight']:
            figures['weight'] = weight_sqnr_db(numpy_helper.to_array(inits[c['weight']]), c['axis'])
        worst = min(figures, key=figures.get)
        c['sqnr_db'] = round(figures[worst], 1)
        c['limited_by'] = worst
    return cands


def quantize_model(model, cands: List[Dict], stats: Dict[str, Dict], keep_float: Set[str]):
    """A QDQ copy of `model`: the candidates not in `keep_float` get int8 weights (and int32
    bias) and their input and output activations a QuantizeLinear/DequantizeLinear pair."""
    q = onnx.ModelProto()
    q.CopyFrom(model)
    graph = q.graph
    inits = _initializers(q)
    outputs = {o.name for o in graph.output}
    chosen = [c for c in cands if c['name'] not in keep_float]
    activations = []
    for c in chosen:
        activations.append(c['input'])
        if c['output'] not in outputs:
            activations.append(c['output'])
    activations = list(dict.fromkeys(activations))

    new_nodes: Dict[int, List] = {}  # insert after node index (-1: at the start)
    producers = {out: i for i, n in enumerate(graph.node) for out in n.output}
    renamed = {}
    for t in activations:
        scale, zero = activation_params(stats[t]['min'], stats[t]['max'])
        s_name, z_name = f'{t}_qscale', f'{t}_qzero'
        graph.initializer.extend([numpy_helper.from_array(np.array(scale, dtype=np.float32), s_name),
                                  numpy_helper.from_array(np.array(zero, dtype=np.uint8), z_name)])
        quantized, restored = f'{t}_quantized', f'{t}_dequantized'
        pair = [helper.make_node('QuantizeLinear', [t, s_name, z_name], [quantized], name=f'{t}_Q'),
                helper.make_node('DequantizeLinear', [quantized, s_name, z_name], [restored], name=f'{t}_DQ')]
        new_nodes.setdefault(producers.get(t, -1), []).extend(pair)
        renamed[t] = (restored, scale)

    # Every consumer reads the dequantized tensor: onnxruntime fuses a group only when the
    # producer's output goes to its QuantizeLinear alone.
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name in renamed:
                node.input[k] = renamed[name][0]

    weights_done = {}
    for c in chosen:
        if not c['weight']:
            continue
        node = graph.node[c['index']]
        key = (c['weight'], c['axis'])
        if key not in weights_done:
            w = numpy_helper.to_array(inits[c['weight']])
            qw, scale = weight_scales(w, c['axis'])
            base = f'{c["weight"]}_int8_axis{c["axis"]}'
            graph.initializer.extend([numpy_helper.from_array(qw, base),
                                      numpy_helper.from_array(scale, f'{base}_scale'),
                                      numpy_helper.from_array(np.zeros(scale.shape, dtype=np.int8), f'{base}_zero')])
            weights_done[key] = (f'{base}_dequantized', scale)
            new_nodes.setdefault(-1, []).append(helper.make_node(
                'DequantizeLinear', [base, f'{base}_scale', f'{base}_zero'], [f'{base}_dequantized'],
                name=f'{base}_DQ', axis=c['axis']))
        node.input[1] = weights_done[key][0]
        if c['op'] == 'Conv' and len(node.input) > 2 and node.input[2] in inits:
            # int32 bias at scale input * weight, as onnxruntime's QLinearConv wants it.
            bias = numpy_helper.to_array(inits[node.input[2]])
            b_scale = (renamed[c['input']][1] * weights_done[key][1]).astype(np.float32)
            b_name = f'{node.name or c["name"]}_bias_int32'
            graph.initializer.extend([
                numpy_helper.from_array(np.round(bias / b_scale).astype(np.int32), b_name),
                numpy_helper.from_array(b_scale, f'{b_name}_scale'),
                numpy_helper.from_array(np.zeros(b_scale.shape, dtype=np.int32), f'{b_name}_zero')])
            new_nodes.setdefault(-1, []).append(helper.make_node(
                'DequantizeLinear', [b_name, f'{b_name}_scale', f'{b_name}_zero'], [f'{b_name}_dequantized'],
                name=f'{b_name}_DQ', axis=0))
            node.input[2] = f'{b_name}_dequantized'

    ordered = list(new_nodes.get(-1, []))
    for i, node in enumerate(graph.node):
        ordered.append(node)
        ordered.extend(new_nodes.get(i, []))
    del graph.node[:]
    graph.node.extend(ordered)
    used = {name for n in graph.node for name in n.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    if q.ByteSize() < 2 ** 31 - 1:  # the checker needs the model in one protobuf
        onnx.checker.check_model(q)
    return q, chosen


def _check_dir(path: Optional[str]) -> None:
    if path is None:
        return
    if not os.path.isdir(path):
        raise QuantizeError(f'--calibration folder not found: {path} (expected a folder of aligned face images)')
    images = [f for f in os.listdir(path) if f.lower().endswith(('.png', '.jpg', '.jpeg', '.webp'))]
    if not images:
        raise QuantizeError(f'--calibration folder {path} holds no .png, .jpg or .webp image; expected aligned faces')


def run_node(node: str, plan: Dict, scratch: str, label: str) -> Dict:
    if not os.path.isfile(CALIBRATE_JS):
        raise QuantizeError(f'{CALIBRATE_JS} is missing; build the package first (npm run build)')
    plan_file = os.path.join(scratch, f'{label}.plan.json')
    with open(plan_file, 'w', encoding='utf8') as f:
        json.dump(plan, f)
    proc = subprocess.run([node, CALIBRATE_JS, plan_file], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise QuantizeError(f'int8 {label} in onnxruntime-node failed: {lines[-1] if lines else "exit " + str(proc.returncode)}')
    with open(plan['out'], encoding='utf8') as f:
        return json.load(f)


def first_failure(figures: Dict) -> Optional[str]:
    """The first figure past its threshold, as text, or None."""
    checks = [('psnr_db', lambda v, t: v >= t, '>='), ('age_years', lambda v, t: v <= t, '<='),
              ('identity_cosine', lambda v, t: v >= t, '>='), ('wplus_rel_mean', lambda v, t: v <= t, '<=')]
    for key, ok, sign in checks:
        value = figures.get(key)
        if value is not None and not ok(value, THRESHOLDS[key]):
            return f'{key} {value:.4g} (threshold {sign} {THRESHOLDS[key]:g})'
    return None


def quantize_folder(folder: str, *, calibration: Optional[str] = None, node: str = 'node', threads: int = 0,
                    log=print, samples: int = CALIBRATION_SAMPLES, heldout: int = HELDOUT_SAMPLES,
                    rejected: Optional[str] = None) -> Dict[str, Dict]:
    """Writes `<name>.int8.onnx` and `<name>.int8.json` for every model of INT8_MODELS that passes.
    `rejected`: a folder that gets the variants that failed, with their report (to inspect or time them).
    Returns name -> {'written': bool, 'figures': ..., 'failure': text or None, ...}."""
    from graphs import write_json

    _check_dir(calibration)
    present = [n for n in INT8_MODELS if os.path.isfile(os.path.join(folder, f'{n}.onnx'))]
    scratch = tempfile.mkdtemp(prefix='.int8-', dir=folder)
    results: Dict[str, Dict] = {}
    try:
        cands, observe = {}, {}
        for name in present:
            for old in (f'{name}.int8.onnx', f'{name}.int8.json'):  # an earlier variant no longer matches
                if os.path.exists(os.path.join(folder, old)):
                    os.remove(os.path.join(folder, old))
            model = onnx.load(os.path.join(folder, f'{name}.onnx'))
            found = candidates(model)
            if not found:
                results[name] = {'written': False, 'failure': None, 'reason': 'no layer to quantize (no Conv, large MatMul/Gemm or AveragePool)'}
                log(f'int8 {name}: no layer to quantize, stays float32 only')
                continue
            cands[name] = found
            path = os.path.join(scratch, f'{name}.observe.onnx')
            write_observer(model, observed_tensors(found), path)
            observe[name] = {'file': path, 'tensors': observed_tensors(found)}
            del model  # full-size graphs are read again when needed: one in memory at a time
        if not cands:
            return results
        source = {'kind': 'folder', 'dir': os.path.abspath(calibration)} if calibration else \
            {'kind': 'generated', 'seed': 1, 'how': 'random z -> mapping -> generator faces; their inversion + aging codes'}
        stats = run_node(node, {'mode': 'calibrate', 'folder': folder, 'observe': observe, 'samples': samples,
                                'seed': 1, 'calibration_dir': calibration, 'threads': threads,
                                'out': os.path.join(scratch, 'stats.json')}, scratch, 'calibration')

        attempts = {name: set() for name in cands}
        pending = list(cands)
        for attempt in (1, 2):
            built = {}
            for name in pending:
                model = onnx.load(os.path.join(folder, f'{name}.onnx'))
                screened = screen(model, cands[name], stats['tensors'][name])
                keep = {c['name'] for c in screened if c['sqnr_db'] < SCREEN_DB} | attempts[name]
                qmodel, chosen = quantize_model(model, screened, stats['tensors'][name], keep)
                del model
                if not chosen:
                    results[name] = {'written': False, 'failure': None, 'reason': 'every layer screened out (stays float32)'}
                    continue
                path = os.path.join(scratch, f'{name}.int8.onnx')
                onnx.save(qmodel, path)
                del qmodel
                built[name] = {'file': path, 'keep': keep, 'chosen': chosen}
            if not built:
                break
            report = run_node(node, {'mode': 'evaluate', 'folder': folder, 'candidates': {n: b['file'] for n, b in built.items()},
                                     'samples': heldout, 'seed': 2, 'threads': threads,
                                     'out': os.path.join(scratch, f'report{attempt}.json')}, scratch, 'quality report')
            pending = []
            for name, b in built.items():
                figures = report['figures'][name]
                failure = first_failure(figures)
                kept = [{'layer': c['name'], 'op': c['op'], 'sqnr_db': c['sqnr_db'], 'limited_by': c['limited_by'],
                         'why': (f'estimated int8 SQNR below {SCREEN_DB:g} dB' if c['sqnr_db'] < SCREEN_DB
                                 else 'among the worst-screened layers, kept float32 on the second try')}
                        for c in cands[name] if c['name'] in b['keep']]
                results[name] = {'written': False, 'failure': failure, 'figures': figures, 'kept_float32': kept,
                                 'quantized_layers': len(b['chosen']), 'attempt': attempt}
                retry_count = min(max(1, int(len(cands[name]) * RETRY_FLOAT_SHARE)), len(b['chosen']) - 1)
                if failure and attempt == 1 and retry_count > 0:
                    worst = sorted(b['chosen'], key=lambda c: c['sqnr_db'])
                    attempts[name] = {c['name'] for c in worst[:retry_count]}
                    log(f'int8 {name}: {failure}; retrying with the worst-screened {len(attempts[name])} layers float32')
                    pending.append(name)
                    continue
                if failure:
                    log(f'int8 {name}: not written, {failure}')
                    if rejected:
                        os.makedirs(rejected, exist_ok=True)
                        shutil.move(b['file'], os.path.join(rejected, f'{name}.int8.onnx'))
                        write_json(os.path.join(rejected, f'{name}.int8.report.json'), results[name])
                    continue
                shutil.move(b['file'], os.path.join(folder, f'{name}.int8.onnx'))
                with open(os.path.join(folder, f'{name}.json'), encoding='utf8') as f:
                    float_manifest = json.load(f)
                write_json(os.path.join(folder, f'{name}.int8.json'),
                           int8_manifest(float_manifest, figures, source, results[name], samples, heldout,
                                         report['heldout']))
                results[name]['written'] = True
                log(f'int8 {name}: written ({len(b["chosen"])} layers int8, {len(kept)} float32); ' + summary(figures))
            if not pending:
                break
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def summary(figures: Dict) -> str:
    shown = []
    for key, fmt in (('psnr_db', 'PSNR {:.1f} dB'), ('age_years', 'age {:.3f} y'), ('identity_cosine', 'identity {:.4f}'),
                     ('wplus_max_abs', 'w+ max {:.3g}'), ('wplus_mean_abs', 'mean {:.3g}')):
        if figures.get(key) is not None:
            shown.append(fmt.format(figures[key]))
    return ', '.join(shown)


def int8_manifest(float_manifest: Dict, figures: Dict, source: Dict, result: Dict, samples: int, heldout: int,
                  heldout_how: str) -> Dict:
    doc = {k: v for k, v in float_manifest.items() if k not in ('notes',)}
    doc['precision'] = 'int8'
    doc['quantization'] = {
        'quantizer': f'tools/export/quantize.py {QUANTIZER_VERSION}',
        'form': 'QDQ: int8 weights per output channel (symmetric), uint8 activations per tensor (asymmetric, calibrated min/max)',
        'calibration': {**source, 'samples': samples},
        'layers': {'int8': result['quantized_layers'], 'float32': result['kept_float32']},
    }
    doc['report'] = {
        'against': 'the float32 graph of this folder, on held-out inputs',
        'heldout': {'samples': heldout, 'how': heldout_how},
        'figures': figures,
        'thresholds': THRESHOLDS,
        'pass': True,
    }
    if 'notes' in float_manifest:
        doc['notes'] = float_manifest['notes']
    return doc


def main(argv=None) -> int:
    sys.path.insert(0, HERE)
    p = argparse.ArgumentParser(prog='quantize', description='int8 variants of a model folder')
    p.add_argument('--models', required=True, help='model folder (float32 models with manifests)')
    p.add_argument('--calibration', help='folder of aligned face images to calibrate on (default: generated faces)')
    p.add_argument('--node', default='node', help='node binary (default: node on PATH)')
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--rejected', help='folder for variants that miss a threshold, with their report (default: discarded)')
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if not os.path.isdir(args.models):
            raise QuantizeError(f'--models folder not found: {args.models}')
        results = quantize_folder(os.path.abspath(args.models), calibration=args.calibration, node=args.node,
                                  threads=args.threads, log=lambda m: print(m, flush=True),
                                  rejected=args.rejected)
    except QuantizeError as err:
        sys.stderr.write(f'error: {err}\n')
        return 2
    failed = [f'{n}: {r["failure"]}' for n, r in results.items() if r.get('failure') and not r['written']]
    if failed:
        sys.stderr.write(f'error: int8 variant not written, quality below threshold: {"; ".join(failed)}\n')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
