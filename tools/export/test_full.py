"""Full-size exporter check: random-weight checkpoints in the official formats and at the official
size, exported with --verify and --int8, timed and measured (each int8 graph against its float32
one). Run by `npm run test:export-full`.

usage: test_full.py [--work DIR] [--keep]
  --work DIR  where the checkpoints and the model folder go (default: a new temporary folder;
              needs about 6.5 GB free)
  --keep      leave the checkpoints and the model folder there

Prints one JSON summary (times, disk, parity figures, int8 reports and speed) and exits non-zero on any failure.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def du(path):
    total = 0
    for base, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(base, f)) for f in files)
    return total


def step(label, args):
    t = time.time()
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    took = time.time() - t
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        sys.stderr.write(f'test_full: {label} failed (exit {proc.returncode})\n')
        sys.exit(1)
    return took, proc.stdout


def main():
    parser = argparse.ArgumentParser(description='full-size export + verify of random official-format checkpoints')
    parser.add_argument('--work')
    parser.add_argument('--keep', action='store_true')
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix='sam-export-full-')
    os.makedirs(work, exist_ok=True)
    ckpt, out = os.path.join(work, 'ckpt'), os.path.join(work, 'models', 'sam-ffhq')
    rejected = os.path.join(work, 'int8-rejected')
    summary = {}
    try:
        took, text = step('layout check', [os.path.join(HERE, 'check_layout.py'),
                                           os.path.join(ROOT, 'test', 'fixtures', 'export', 'official-layout.json')])
        summary['layout'] = json.loads(text)
        took, _ = step('make_checkpoints', [os.path.join(HERE, 'make_checkpoints.py'), '--out', ckpt])
        summary['make_checkpoints_s'] = round(took, 1)
        summary['checkpoints_bytes'] = {f: os.path.getsize(os.path.join(ckpt, f)) for f in sorted(os.listdir(ckpt))}
        took, _ = step('export', [os.path.join(HERE, 'export.py'),
                                  '--sam', os.path.join(ckpt, 'sam_ffhq_aging.pt'),
                                  '--dex', os.path.join(ckpt, 'dex_age_classifier.pth'),
                                  '--arcface', os.path.join(ckpt, 'model_ir_se50.pth'),
                                  '--out', out, '--verify', '--int8', '--int8-rejected', rejected])
        summary['export_and_verify_s'] = round(took, 1)
        summary['models_bytes'] = {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))
                                   if f.endswith('.onnx')}
        summary['disk_bytes'] = {'checkpoints': du(ckpt), 'models': du(out)}
        with open(os.path.join(out, 'verify.json'), encoding='utf8') as f:
            report = json.load(f)
        summary['parity'] = {f'{m}.{o}': {'max_abs': d['max_abs'], 'mean_abs': d['mean_abs']}
                             for m, outs in report['models'].items() for o, d in outs.items()}
        summary['checks'] = {k: {'max_abs': d['max_abs'], 'mean_abs': d['mean_abs']} for k, d in report['checks'].items()}
        summary['onnxruntime_ms_batch2'] = report['onnxruntime_ms']
        summary['int8'] = int8_summary(out, rejected)
        summary['pass'] = report['pass'] and summary['int8']['pass']
        print(json.dumps(summary, indent=2))
        if not summary['pass']:
            sys.exit(1)
    finally:
        if not args.keep:
            shutil.rmtree(work if not args.work else ckpt, ignore_errors=True)
            if args.work:
                shutil.rmtree(os.path.dirname(out), ignore_errors=True)
                shutil.rmtree(rejected, ignore_errors=True)


def int8_summary(out, rejected):
    """Every int8 model either written with a passed report or refused with its failing figure;
    then each int8 graph (written or refused: same speed) timed against its float32 graph, 2 threads."""
    from quantize import INT8_MODELS

    figures, ok = {}, True
    for name in INT8_MODELS:
        written, refused = os.path.join(out, f'{name}.int8.json'), os.path.join(rejected, f'{name}.int8.report.json')
        if os.path.isfile(written):
            with open(written, encoding='utf8') as f:
                doc = json.load(f)
            figures[name] = {'written': True, 'figures': doc['report']['figures'],
                             'float32_layers': len(doc['quantization']['layers']['float32'])}
            ok = ok and doc['report']['pass'] is True
        elif os.path.isfile(refused):
            with open(refused, encoding='utf8') as f:
                doc = json.load(f)
            figures[name] = {'written': False, 'failure': doc['failure'], 'figures': doc['figures'],
                             'float32_layers': len(doc['kept_float32'])}
            ok = ok and bool(doc['failure'])
        else:
            figures[name] = {'written': False, 'failure': 'neither written nor refused'}
            ok = False
    proc = subprocess.run(['node', os.path.join(HERE, 'time_int8.mjs'), out, '2', rejected], capture_output=True, text=True)
    speed = json.loads(proc.stdout) if proc.returncode == 0 else {'error': proc.stderr.strip().splitlines()[-1:]}
    return {'models': figures, 'speed_batch1_2threads': speed, 'pass': ok and proc.returncode == 0}


if __name__ == '__main__':
    main()
