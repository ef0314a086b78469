"""Full-size speed benchmark: SAM's PyTorch code (the exporter's modules, and the official form of
the generator) against the project's runtime on the exported folder (bench/full.ts), batch 1.

usage: npm run bench:full -- [--ckpt DIR] [--models DIR] [--threads 2] [--runs 5] [--pipeline-runs 3]
                             [--only a,b] [--wait-idle S] [--json FILE] [--node NODE]

--ckpt DIR: the checkpoints (sam_ffhq_aging.pt, dex_age_classifier.pth; make_checkpoints.py writes
random ones) are timed in PyTorch; --models DIR: the folder export.py wrote from them is timed in
the project's runtime (dist/bench/full.js: per graph, and the pipelines through the code users
run, full and fast, int8 where the folder has it; same threads and runs); with both, a comparison
table follows.
PyTorch runs with torch.set_num_threads(--threads); each case is the median of --runs after one
warm-up run:
  inversion      pretrained_encoder(image) + latent_avg            (pSp encoder, 3 channels)
  aging          encoder(concat(image, age / 100))                 (SAM encoder, 4 channels)
  generator      StyleGAN2 at 1024 as the exporter writes it (activation scaling, reordered ops)
  generator-ref  the same in the official grouped-kernel form and order (what SAM's code runs)
  generator-256  stopped at the 256 RGB output
  age            DEX VGG16 on 224x224
and two end-to-end pipelines (median of --pipeline-runs after one warm-up):
  one-age   inversion + aging + generator-ref 1024 + 256 face pool + resize to 224 + DEX
            (what SAM's forward plus its age check computes for one target age)
  lifespan  one inversion + aging batched over 11 ages + 11 generator-ref renders (batch 1)
            + pool/resize + DEX batched over 11
Each figure also gives the min, the warm-up (first) run, the process CPU time per run (close to
threads x wall time when the cores were ours), per run `others`: CPU time other processes of the
machine used meanwhile (from /proc/stat; near 0 on an idle machine), and how many runs were shared
with them. --wait-idle S waits up to S seconds before every timed run for a second in which other
processes used under 10% of a core.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep tools/export free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'tools', 'export'))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from archs import FULL, set_reference_mode  # noqa: E402
from checkpoints import load_dex, load_sam  # noqa: E402
from graphs import AgeGraph, AgingGraph, GeneratorGraph, InversionGraph  # noqa: E402

LIFESPAN_AGES = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo', encoding='utf8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return 'unknown CPU'


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine have used (Linux /proc/stat), 0 where unavailable."""
    try:
        with open('/proc/stat', encoding='ascii') as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return (sum(fields[:3]) + sum(fields[5:8])) / os.sysconf('SC_CLK_TCK')  # user nice system irq softirq steal
    except (OSError, ValueError):
        return 0.0


def wait_idle(limit: float) -> float:
    """Waits (at most `limit` seconds) until other processes used under 10% of one core for a
    whole second; returns the seconds waited."""
    start = time.perf_counter()
    while limit and time.perf_counter() - start < limit:
        b, c = machine_busy_seconds(), cpu_seconds()
        time.sleep(1.0)
        if (machine_busy_seconds() - b) - (cpu_seconds() - c) < 0.1:
            break
    return time.perf_counter() - start


def timed(fn, runs: int, threads: int, idle_wait: float = 0.0):
    """One warm-up call (first_ms), then `runs` timed calls (each after wait_idle): median and min
    wall ms, every wall ms, median CPU ms of this process, and per run the CPU ms other processes
    used meanwhile (a run where they used over a tenth of wall time x threads was shared)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    walls, cpus, others = [], [], []
    for _ in range(runs):
        wait_idle(idle_wait)
        b, c, t = machine_busy_seconds(), cpu_seconds(), time.perf_counter()
        fn()
        wall = time.perf_counter() - t
        cpu = cpu_seconds() - c
        walls.append(wall * 1000)
        cpus.append(cpu * 1000)
        others.append(max(0.0, (machine_busy_seconds() - b) - cpu) * 1000)
    shared = sum(1 for w, o in zip(walls, others) if o > 0.1 * w * threads)
    return {'median_ms': round(statistics.median(walls), 1), 'min_ms': round(min(walls), 1),
            'first_ms': round(first * 1000, 1),
            'runs_ms': [round(w, 1) for w in walls], 'cpu_ms': round(statistics.median(cpus), 1),
            'others_ms': [round(o) for o in others], 'shared_runs': shared, 'runs': runs,
            'load': round(os.getloadavg()[0], 2)}


def to_age_input(images):
    """SAM's face pool (1024 -> 256 average) then bilinear to DEX's 224, as its aging loss does."""
    faces = F.adaptive_avg_pool2d(images, (256, 256))
    return F.interpolate(faces, size=(224, 224), mode='bilinear', align_corners=False)


def report(name, r):
    print(f'{name:14s} {r["median_ms"]:9.1f} ms  min {r["min_ms"]:9.1f}  first {r["first_ms"]:9.1f}  '
          f'(cpu {r["cpu_ms"]} ms, shared runs {r["shared_runs"]}/{r["runs"]}, load {r["load"]}, '
          f'runs {r["runs_ms"]}, others {r["others_ms"]})', flush=True)


def run_torch(args):
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    sam = load_sam(os.path.join(args.ckpt, 'sam_ffhq_aging.pt'), FULL)
    dex = load_dex(os.path.join(args.ckpt, 'dex_age_classifier.pth'), FULL)
    inversion, aging = InversionGraph(sam).eval(), AgingGraph(sam).eval()
    generator, generator256 = GeneratorGraph(sam.decoder).eval(), GeneratorGraph(sam.decoder, 256).eval()
    age_net = AgeGraph(dex).eval()

    gen = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 256, 256, generator=gen) * 2 - 1
    age = torch.tensor([40.0])
    latent = inversion(image) + aging(image, age)
    face224 = torch.rand(1, 3, 224, 224, generator=gen) * 2 - 1

    def generator_ref(codes):
        set_reference_mode(sam.decoder, True)
        try:
            return generator(codes)
        finally:
            set_reference_mode(sam.decoder, False)

    def one_age():
        codes = inversion(image) + aging(image, age)
        return age_net(to_age_input(generator_ref(codes)))

    def lifespan():
        ages = torch.tensor([float(a) for a in LIFESPAN_AGES])
        codes = inversion(image) + aging(image.expand(len(ages), -1, -1, -1), ages)
        renders = [to_age_input(generator_ref(codes[i:i + 1])) for i in range(len(ages))]
        return age_net(torch.cat(renders))

    cases = [
        ('inversion', lambda: inversion(image), args.runs),
        ('aging', lambda: aging(image, age), args.runs),
        ('generator', lambda: generator(latent), args.runs),
        ('generator-ref', lambda: generator_ref(latent), args.runs),
        ('generator-256', lambda: generator256(latent), args.runs),
        ('age', lambda: age_net(face224), args.runs),
        ('one-age', one_age, args.pipeline_runs),
        ('lifespan', lifespan, args.pipeline_runs),
    ]
    only = set(args.only.split(',')) if args.only else None
    results = {'engine': f'torch {torch.__version__}', 'threads': args.threads, 'batch': 1, 'times': {}}
    print(f'PyTorch ({results["engine"]}, {args.threads} threads, batch 1)', flush=True)
    for name, fn, runs in cases:
        if only and name not in only:
            continue
        results['times'][name] = timed(fn, runs, args.threads, args.wait_idle)
        report(name, results['times'][name])
    return results


def run_onnxruntime(args):
    """Runs bench/full.ts (built) on the model folder with the same settings; returns its results."""
    fd, out = tempfile.mkstemp(suffix='.json')
    os.close(fd)
    try:
        cmd = [args.node, os.path.join(ROOT, 'dist', 'bench', 'full.js'), args.models, '--threads', str(args.threads),
               '--runs', str(args.runs), '--pipeline-runs', str(args.pipeline_runs), '--json', out]
        if args.only:
            cmd += ['--only', args.only]
        if args.wait_idle:
            cmd += ['--wait-idle', str(args.wait_idle)]
        print(f'project runtime ({args.threads} intra-op threads, batch 1)', flush=True)
        subprocess.run(cmd, check=True)
        with open(out, encoding='utf8') as f:
            return json.load(f)
    finally:
        os.unlink(out)


# (row label, PyTorch case, onnxruntime case): the official form of the generator is what SAM's
# code runs, so the pipelines and the 1024 comparison use it on the PyTorch side.
TABLE = [
    ('pSp encoder (inversion)', 'inversion', 'inversion'),
    ('aging encoder', 'aging', 'aging'),
    ('generator 1024 (official grouped form in PyTorch)', 'generator-ref', 'generator'),
    ('generator 1024 (exporter form in PyTorch)', 'generator', 'generator'),
    ('generator-512', None, 'generator-512'),
    ('generator-256', 'generator-256', 'generator-256'),
    ('DEX (age)', 'age', 'age'),
    ('one age: inversion + aging + generator + DEX', 'one-age', 'one-age'),
    ('one age, fast (generator-256) against SAM at 1024', 'one-age', 'one-age-fast'),
    ('lifespan, 11 ages', 'lifespan', 'lifespan'),
    ('lifespan, 11 ages, fast (generator-256) against SAM at 1024', 'lifespan', 'lifespan-fast'),
]


def print_table(torch_results, ort_results):
    """Markdown table: PyTorch, the runtime float32 (and int8 where measured), speed-ups, and the
    share of the runtime's time outside onnxruntime."""
    times = ort_results['times']
    int8 = any(k.endswith('.int8') for k in times)
    head = '| | PyTorch (ms) | runtime fp32 (ms) | speed-up | outside onnxruntime |'
    if int8:
        head += ' runtime int8 (ms) | speed-up |'
    print('\n' + head + '\n|' + '---|' * (head.count('|') - 1))
    for label, t_case, o_case in TABLE:
        t, o = torch_results['times'].get(t_case) if t_case else None, times.get(o_case)
        if not o:
            continue
        row = f'| {label} | {t["median_ms"]:.0f} | {o["median_ms"]:.0f} | ' if t else f'| {label} | | {o["median_ms"]:.0f} | '
        row += f'{t["median_ms"] / o["median_ms"]:.1f}x | ' if t else '| '
        row += f'{100 * o["outside_share"]:.1f}% |'
        if int8:
            q = times.get(o_case + '.int8')
            row += (f' {q["median_ms"]:.0f} | {t["median_ms"] / q["median_ms"]:.1f}x |' if q and t else
                    f' {q["median_ms"]:.0f} | |' if q else ' | |')
        print(row)
    full, fast = times.get('one-age'), times.get('one-age-fast')
    if full and fast:
        print(f'\nfast against full (one age): {full["median_ms"] / fast["median_ms"]:.2f}x')
    full, fast = times.get('lifespan'), times.get('lifespan-fast')
    if full and fast:
        print(f'fast against full (lifespan): {full["median_ms"] / fast["median_ms"]:.2f}x')


def main():
    p = argparse.ArgumentParser(description='full-size timings, PyTorch and onnxruntime-node (batch 1)')
    p.add_argument('--ckpt', help='folder with sam_ffhq_aging.pt and dex_age_classifier.pth: times PyTorch')
    p.add_argument('--models', help='model folder exported from those checkpoints: times onnxruntime-node')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--runs', type=int, default=5)
    p.add_argument('--pipeline-runs', type=int, default=3)
    p.add_argument('--only', help='comma-separated subset of the names above')
    p.add_argument('--json', help='also write the results to this file')
    p.add_argument('--wait-idle', type=float, default=0.0,
                   help='before every timed run, wait up to this many seconds for a quiet second')
    p.add_argument('--node', default='node', help='node binary for --models (default: node on PATH)')
    args = p.parse_args()
    if not args.ckpt and not args.models:
        p.error('give --ckpt (PyTorch), --models (onnxruntime-node) or both')

    print(f'machine: {cpu_model()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}', flush=True)
    results = {'machine': {'cpu': cpu_model(), 'cores': os.cpu_count()}}
    if args.ckpt:
        results['torch'] = run_torch(args)
    if args.models:
        results['onnxruntime'] = run_onnxruntime(args)
    if args.ckpt and args.models:
        print_table(results['torch'], results['onnxruntime'])
    if args.json:
        with open(args.json, 'w', encoding='utf8') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
