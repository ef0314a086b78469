"""Full-size exporter check: random-weight checkpoints in the official formats and at the official
size, exported with --verify, timed and measured. Run by `npm run test:export-full`.

usage: test_full.py [--work DIR] [--keep]
  --work DIR  where the checkpoints and the model folder go (default: a new temporary folder;
              needs about 6.5 GB free)
  --keep      leave the checkpoints and the model folder there

Prints one JSON summary (times, disk, parity figures) and exits non-zero on any failure.
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
                                  '--out', out, '--verify'])
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
        summary['pass'] = report['pass']
        print(json.dumps(summary, indent=2))
        if not report['pass']:
            sys.exit(1)
    finally:
        if not args.keep:
            shutil.rmtree(work if not args.work else ckpt, ignore_errors=True)
            if args.work:
                shutil.rmtree(os.path.dirname(out), ignore_errors=True)


if __name__ == '__main__':
    main()
