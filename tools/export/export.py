"""Exports the official SAM checkpoints to the project's ONNX model folder.

usage: npx age-transform export --sam sam_ffhq_aging.pt [--dex dex_age_classifier.pth]
                                [--arcface model_ir_se50.pth] --out models/sam-ffhq [--verify]
                                [--int8 [--calibration DIR]]
(in a checkout also: npm run models:export -- ...)

Writes inversion, aging, generator, generator-512, generator-256, mapping (and age, identity when given)
as <name>.onnx with a <name>.json manifest each; --verify adds verify.json (parity of every
model against the PyTorch modules in onnxruntime-node, plus the SAM forward checks); --int8 adds
<name>.int8.onnx variants with their quality report (quantize.py), each only where it passes.
Everything is written into a temporary folder beside --out and renamed at the end, so a failed
run leaves nothing half-written. Errors: one line on stderr, exit 2 for bad input, 1 otherwise.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

sys.dont_write_bytecode = True  # keep tools/export free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from checkpoints import (ARCFACE_WHAT, DEX_WHAT, SAM_WHAT, ExportError, first_line,  # noqa: E402
                         load_arcface, load_dex, load_sam, sha256_of)

MODEL_FILE_SUFFIXES = ('.onnx', '.json')


class ParityError(Exception):
    """The exported models do not reproduce the PyTorch modules within tolerance."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        raise ExportError(f'{message} (usage: --sam FILE [--dex FILE] [--arcface FILE] --out FOLDER [--verify])')


def parse_args(argv):
    p = OneLineParser(prog='age-transform export', description='SAM checkpoints -> ONNX model folder')
    p.add_argument('--sam', required=True, help='sam_ffhq_aging.pt (aging encoder, pSp encoder, generator, latent_avg)')
    p.add_argument('--dex', help='dex_age_classifier.pth (DEX VGG16 age classifier) -> age.onnx')
    p.add_argument('--arcface', help='model_ir_se50.pth (IR-SE50 ArcFace) -> identity.onnx')
    p.add_argument('--out', required=True, help='model folder to create or replace')
    p.add_argument('--verify', action='store_true', help='run the parity report (verify.json)')
    p.add_argument('--int8', action='store_true', help='also write <name>.int8.onnx variants that pass their quality report (quantize.py)')
    p.add_argument('--calibration', help='with --int8: folder of aligned face images to calibrate on (default: faces the models make)')
    p.add_argument('--int8-rejected', help='with --int8: folder for variants that miss a threshold (to inspect or time them)')
    p.add_argument('--small', action='store_true', help='test only: the reduced architecture of make_checkpoints.py --small')
    p.add_argument('--node', default='node', help='node binary used by --verify (default: node on PATH)')
    return p.parse_args(argv)


def check_out_folder(out: str, shown: str) -> None:
    if os.path.exists(out) and not os.path.isdir(out):
        raise ExportError(f'--out {shown} exists and is not a folder; expected a folder for the models')
    if os.path.isdir(out):
        foreign = sorted(f for f in os.listdir(out) if not f.endswith(MODEL_FILE_SUFFIXES))
        if foreign:
            raise ExportError(f'--out {shown} holds {foreign[0]}, which is not a model file; '
                              'expected an empty folder or an earlier export (only .onnx and .json files)')


def log(message: str) -> None:
    print(message, flush=True)


def export_all(args, out: str) -> None:
    import torch

    from archs import ARCHS
    from graphs import (AgeGraph, AgingGraph, GeneratorGraph, IdentityGraph, InversionGraph, MappingGraph,
                        export_onnx, manifest, write_json)

    arch = ARCHS['small' if args.small else 'full']
    given = [('--sam', args.sam, SAM_WHAT), ('--dex', args.dex, DEX_WHAT), ('--arcface', args.arcface, ARCFACE_WHAT)]
    for flag, path, what in given:
        if path is not None and not os.path.isfile(path):
            raise ExportError(f'{flag} file not found: {path} (expected {what})')
    check_out_folder(out, args.out)

    t0 = time.time()
    torch.set_grad_enabled(False)
    sam = load_sam(args.sam, arch)
    dex = load_dex(args.dex, arch) if args.dex else None
    arcface = load_arcface(args.arcface, arch) if args.arcface else None
    log(f'checkpoints read and checked ({arch.name} layout) in {time.time() - t0:.1f} s')

    def source(path):
        return {'file': os.path.basename(path), 'sha256': sha256_of(path)}

    sam_source = source(args.sam)
    variant = 'official' if arch.name == 'full' else 'small (test-only reduced widths, random weights)'
    res = arch.generator.size
    jobs = [
        ('inversion', InversionGraph(sam), None, sam_source,
         {'computes': 'pretrained_encoder(image) + latent_avg (the pSp codes SAM starts from)'}),
        ('aging', AgingGraph(sam), None, sam_source,
         {'computes': 'encoder(concat(image, age / 100)); inversion + aging = SAM codes',
          'age_channel': 'age / 100 over the whole image; SAM truncates the age to an integer first, '
                         'this graph keeps fractional ages'}),
        ('generator', GeneratorGraph(sam.decoder), res, sam_source,
         {'noise': 'stored noise buffers (deterministic)', 'sam_output': 'SAM average-pools this image to 256x256'}),
        ('generator-512', GeneratorGraph(sam.decoder, 512), 512, sam_source,
         {'noise': 'stored noise buffers (deterministic)',
          'stops_at': 'the RGB output of the 512x512 layer (uses codes 0..15 of 18): without the 1024 '
                      'layers, so without their finest detail'}),
        ('generator-256', GeneratorGraph(sam.decoder, 256), 256, sam_source,
         {'noise': 'stored noise buffers (deterministic)',
          'stops_at': 'the RGB output of the 256x256 layer (uses codes 0..13 of 18)'}),
        ('mapping', MappingGraph(sam.decoder), None, sam_source,
         {'computes': 'StyleGAN2 mapping: pixel norm + 8 equalized linear layers with leaky ReLU'}),
    ]
    if dex is not None:
        jobs.append(('age', AgeGraph(dex), None, source(args.dex),
                     {'preprocess': "none: SAM's aging loss feeds the [-1,1] RGB image (resized to 224) "
                                    'straight into the DEX VGG16',
                      'age': 'sum over j=0..100 of j * probs[j]'}))
    if arcface is not None:
        jobs.append(('identity', IdentityGraph(arcface), None, source(args.arcface),
                     {'preprocess': "SAM's ID loss crops [35:223, 32:220] of a 256x256 face and average-pools "
                                    'it to 112x112 before this model',
                      'embedding': 'L2-normalised'}))

    names = [job[0] for job in jobs]
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(out)}.partial-', dir=parent)
    try:
        for name, module, resolution, src, notes in jobs:
            t = time.time()
            role = 'generator' if name.startswith('generator') else name
            path = os.path.join(tmp, f'{name}.onnx')
            export_onnx(module, role, path)
            write_json(os.path.join(tmp, f'{name}.json'),
                       manifest(role, resolution=resolution, source=src, variant=variant, notes=notes))
            log(f'{name}.onnx  {os.path.getsize(path) / 2 ** 20:8.1f} MiB  {time.time() - t:6.1f} s')
        if args.verify:
            from verify import first_failure, run_parity

            t = time.time()
            scratch = tempfile.mkdtemp(prefix='.verify-', dir=tmp)
            report = run_parity(tmp, scratch, sam, dex, arcface, node=args.node)
            shutil.rmtree(scratch, ignore_errors=True)
            report['variant'] = variant
            write_json(os.path.join(tmp, 'verify.json'), report)
            for model, outs in report['models'].items():
                for oname, d in outs.items():
                    log(f'parity {model}.{oname}: max {d["max_abs"]:.3g} mean {d["mean_abs"]:.3g}')
            for cname, d in report['checks'].items():
                log(f'check {cname}: max {d["max_abs"]:.3g} mean {d["mean_abs"]:.3g}')
            failure = first_failure(report)
            if failure:
                raise ParityError(f'parity check failed: {failure}; expected every difference within tolerance')
            log(f'parity report verify.json written in {time.time() - t:.1f} s')
        if args.int8:
            from quantize import QuantizeError, quantize_folder

            t = time.time()
            del sam, dex, arcface, module, jobs[:]  # the PyTorch modules are done with; the int8 step needs the memory
            try:
                results = quantize_folder(tmp, calibration=args.calibration, node=args.node, log=log,
                                          rejected=args.int8_rejected)
            except QuantizeError as err:
                raise ExportError(str(err)) from err
            failed = [f'{n}: {r["failure"]}' for n, r in results.items() if r.get('failure') and not r['written']]
            log(f'int8 variants: {sum(r["written"] for r in results.values())} written in {time.time() - t:.1f} s'
                + (f'; not written (quality below threshold): {"; ".join(failed)}' if failed else ''))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a model folder is not
        if os.path.isdir(out):
            old = tempfile.mkdtemp(prefix=f'.{os.path.basename(out)}.old-', dir=parent)
            os.rmdir(old)
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    log(f'model folder {args.out} ready ({len(names)} models) in {time.time() - t0:.1f} s')


def main(argv=None) -> int:
    warnings.simplefilter('ignore')
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        export_all(args, os.path.abspath(args.out))
        return 0
    except ExportError as err:
        sys.stderr.write(f'error: {err}\n')
        return 2
    except ParityError as err:
        sys.stderr.write(f'error: {err}\n')
        return 1
    except KeyboardInterrupt:
        sys.stderr.write('error: interrupted; nothing was written\n')
        return 130
    except Exception as err:  # anything unforeseen still ends in one line
        sys.stderr.write(f'error: export failed: {type(err).__name__}: {first_line(err)}\n')
        return 1


if __name__ == '__main__':
    sys.exit(main())
