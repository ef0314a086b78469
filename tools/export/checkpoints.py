"""Reading and checking the official checkpoints before anything is exported.

Every problem raises ExportError with a one-line message that names the file, what is wrong
and what was expected; export.py prints it on stderr and exits non-zero.
"""
import hashlib
import os
import warnings
import zipfile
from typing import Dict, Tuple

import torch

from archs import SAM, Arch, DexVGG, IrseBackbone, shapes_of

SAM_WHAT = 'the SAM aging checkpoint (sam_ffhq_aging.pt)'
DEX_WHAT = 'the DEX age classifier (dex_age_classifier.pth)'
ARCFACE_WHAT = 'the IR-SE50 ArcFace weights (model_ir_se50.pth)'


class ExportError(Exception):
    """A problem with the user's input, told in one line."""


def fmt(shape) -> str:
    return '[' + ','.join(str(int(d)) for d in shape) + ']'


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0].strip() if text else type(err).__name__


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 22), b''):
            digest.update(block)
    return digest.hexdigest()


def read_checkpoint(path: str, flag: str, what: str):
    """torch.load on CPU, with one-line errors for a missing, unreadable or truncated file."""
    if not os.path.exists(path):
        raise ExportError(f'{flag} file not found: {path} (expected {what})')
    if not os.path.isfile(path):
        raise ExportError(f'{flag} is not a file: {path} (expected {what})')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return torch.load(path, map_location='cpu')
    except Exception as err:  # torch raises many kinds for a damaged file
        raise ExportError(f'cannot read {path}: {why_unreadable(path, err)}; expected {what} as written by torch.save') \
            from None


def why_unreadable(path: str, err: BaseException) -> str:
    with open(path, 'rb') as f:
        head = f.read(4)
    if head == b'PK\x03\x04':  # torch.save's zip format
        if not zipfile.is_zipfile(path):
            return 'the zip archive is incomplete (truncated file?)'
        return f'the zip archive is not a PyTorch checkpoint ({first_line(err)})'
    if head[:1] == b'\x80':  # the legacy pickle format
        return 'the pickled data is damaged or ends early (truncated file?)'
    if not head:
        return 'the file is empty'
    return 'it is not a PyTorch checkpoint file'


def kind_of(obj) -> str:
    """A short description of what a loaded checkpoint looks like."""
    if not isinstance(obj, dict):
        return f'a {type(obj).__name__} object'
    if 'g_ema' in obj:
        return 'a StyleGAN2 generator checkpoint (g_ema)'
    sd = obj['state_dict'] if isinstance(obj.get('state_dict'), dict) else obj
    keys = [k for k in sd if isinstance(k, str)]

    def has(prefix):
        return any(k.startswith(prefix) for k in keys)

    if has('pretrained_encoder.'):
        return 'a SAM aging checkpoint'
    if has('encoder.') and has('decoder.'):
        return 'a pSp checkpoint (encoder.* and decoder.* but no pretrained_encoder.*)'
    if 'conv1_1.weight' in sd and ('fc8-101.weight' in sd or 'fc8_101.weight' in sd):
        return 'a DEX VGG age classifier'
    if has('output_layer.') and has('body.'):
        return 'an IR-SE50 ArcFace backbone'
    if has('input_layer.') and has('body.') and has('styles.'):
        return 'a bare pSp encoder state_dict'
    shown = ', '.join(str(k) for k in list(obj)[:4])
    return f'an unrecognised checkpoint (top-level keys: {shown})'


def check_keys(path: str, sd: Dict[str, torch.Tensor], expected: Dict[str, Tuple[int, ...]], what: str) -> None:
    """The state_dict must have exactly the expected keys with exactly the expected shapes."""
    missing = [k for k in expected if k not in sd]
    if missing:
        more = f' and {len(missing) - 1} more' if len(missing) > 1 else ''
        raise ExportError(f'{path}: missing key {missing[0]} (expected shape {fmt(expected[missing[0]])}){more}; '
                          f'expected {what}')
    wrong = [k for k, shape in expected.items() if not torch.is_tensor(sd[k]) or tuple(sd[k].shape) != tuple(shape)]
    if wrong:
        k = wrong[0]
        found = fmt(sd[k].shape) if torch.is_tensor(sd[k]) else f'a {type(sd[k]).__name__}'
        more = f' ({len(wrong) - 1} more keys have other shapes)' if len(wrong) > 1 else ''
        raise ExportError(f'{path}: key {k} has shape {found}, expected {fmt(expected[k])}{more}')
    extra = [k for k in sd if k not in expected]
    if extra:
        more = f' and {len(extra) - 1} more' if len(extra) > 1 else ''
        raise ExportError(f'{path}: unexpected key {extra[0]}{more}; expected only the keys of {what}')


def _materialize(module_on_meta, sd):
    module = module_on_meta.to_empty(device='cpu')
    module.load_state_dict(sd, strict=True)
    return module.eval()


def load_sam(path: str, arch: Arch) -> SAM:
    obj = read_checkpoint(path, '--sam', SAM_WHAT)
    kind = kind_of(obj)
    if kind != 'a SAM aging checkpoint':
        raise ExportError(f'{path} is not a SAM aging checkpoint: it looks like {kind}; expected a dict with '
                          'state_dict (encoder.*, pretrained_encoder.*, decoder.*), latent_avg [18,512] and opts')
    if not isinstance(obj.get('state_dict'), dict):
        raise ExportError(f'{path} has no state_dict dict at the top level; expected {SAM_WHAT}')
    opts = obj.get('opts')
    if opts is not None and not isinstance(opts, dict):
        opts = vars(opts) if hasattr(opts, '__dict__') else None
    if isinstance(opts, dict):
        if opts.get('start_from_latent_avg'):
            raise ExportError(f'{path}: opts.start_from_latent_avg is set, so its codes do not use the pSp encoder; '
                              'expected a SAM checkpoint trained with start_from_encoded_w_plus')
        if 'start_from_encoded_w_plus' in opts and not opts['start_from_encoded_w_plus']:
            raise ExportError(f'{path}: opts.start_from_encoded_w_plus is {opts["start_from_encoded_w_plus"]}; '
                              'expected True (codes = encoder + pretrained_encoder + latent_avg)')
        if 'input_nc' in opts and opts['input_nc'] != 4:
            raise ExportError(f'{path}: opts.input_nc is {opts["input_nc"]}; expected 4 (RGB + age channel)')
        if 'output_size' in opts and opts['output_size'] != arch.generator.size:
            raise ExportError(f'{path}: opts.output_size is {opts["output_size"]}; expected {arch.generator.size}')
        if 'encoder_type' in opts and opts['encoder_type'] != 'GradualStyleEncoder':
            raise ExportError(f'{path}: opts.encoder_type is {opts["encoder_type"]}; expected GradualStyleEncoder')
    want_avg = (arch.encoder.n_styles, arch.encoder.style_dim)
    latent_avg = obj.get('latent_avg')
    if latent_avg is None:
        raise ExportError(f'{path} has no latent_avg; expected latent_avg {fmt(want_avg)} beside the state_dict')
    if not torch.is_tensor(latent_avg) or tuple(latent_avg.shape) != want_avg:
        found = fmt(latent_avg.shape) if torch.is_tensor(latent_avg) else f'a {type(latent_avg).__name__}'
        raise ExportError(f'{path}: latent_avg has shape {found}, expected {fmt(want_avg)}')
    meta = SAM(arch, torch.device('meta'))
    check_keys(path, obj['state_dict'], shapes_of(meta), SAM_WHAT)
    sam = _materialize(meta, obj['state_dict'])
    sam.latent_avg = latent_avg.detach().float().clone()
    return sam


def _bare_state_dict(obj):
    if isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict):
        return obj['state_dict']
    return obj


def load_dex(path: str, arch: Arch) -> DexVGG:
    obj = read_checkpoint(path, '--dex', DEX_WHAT)
    kind = kind_of(obj)
    if kind != 'a DEX VGG age classifier':
        raise ExportError(f'{path} is not a DEX age classifier: it looks like {kind}; expected state_dict with '
                          'conv1_1 ... conv5_3, fc6, fc7 and fc8-101 (VGG16, 101 ages)')
    # The release spells some layers with '-'; SAM's loader writes '_' (criteria/aging_loss.py).
    sd = {k.replace('-', '_'): v for k, v in _bare_state_dict(obj).items()}
    meta = DexVGG(arch.vgg, torch.device('meta'))
    check_keys(path, sd, shapes_of(meta), DEX_WHAT)
    return _materialize(meta, sd)


def load_arcface(path: str, arch: Arch) -> IrseBackbone:
    obj = read_checkpoint(path, '--arcface', ARCFACE_WHAT)
    kind = kind_of(obj)
    if kind != 'an IR-SE50 ArcFace backbone':
        raise ExportError(f'{path} is not IR-SE50 ArcFace weights: it looks like {kind}; expected a state_dict with '
                          'input_layer.*, body.* and output_layer.* (112x112 input, 512-d embedding)')
    sd = _bare_state_dict(obj)
    meta = IrseBackbone(arch.irse, torch.device('meta'))
    check_keys(path, sd, shapes_of(meta), ARCFACE_WHAT)
    return _materialize(meta, sd)
