#!/usr/bin/python3
"""Generates the *designed* demo models shipped in models/demo/.

Run with a Python that has torch (1.13) and onnx (1.12):

    /usr/bin/python3 tools/demo-models/make_demo.py [--out DIR]

The real SAM weights are not redistributable, so the package ships these instead: models
that follow the same contracts (DESIGN.md, "Model contracts") and show, honestly marked,
what the flows do with a face. Nothing here is learned; every constant is written below or
comes from a fixed seed, so two runs write the same files.

How a face travels (all coordinates are the FFHQ-aligned frame, 0..1, y down):
- inversion: the 256x256 face as luma at 72x72 and two chroma planes at 36x36 (least-squares
  fits for the generator's bicubic upsampling): 5184 + 2 x 1296 = 7776 numbers, spread over
  the 18 layers as dims 0..431 of each; dim 432 is the age coordinate t (0 here); dims
  433..511 a seeded latent_avg filler the generator ignores.
- aging: delta = age / 100 in dim 432 of every layer, nothing else.
- generator: upsamples the planes back to 256 px (smooth bicubic, no blocks) and applies
  age cues driven by t around a neutral adult age (easing out: most of the old cues by 70, so
  a kiosk's "70 years" reads at a glance): towards old, greying and lightening hair (around
  the head, where a pixel's colour is like the crown's and unlike the cheeks', so neither the
  background nor the forehead turns grey) and brows, lines (frown, crow's feet, under-eye, nasolabial, marionette), fine skin
  texture, age spots, paler lips and a slightly longer lower face; towards young, a smoother,
  softer and rosier face with a shorter lower face and larger eyes. Every image carries a
  small "DEMO" mark in its bottom-right corner.
- mapping: z -> a w whose image part is a smooth random face-coloured pattern (style mixing
  then visibly mixes it in), t from a sigmoid.
"""

import argparse
import json
import math
import os
import sys

import onnx
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from designed_models import fix_shapes, seeded, spec  # noqa: E402

OPSET = 17
EXPORTER = "demo-models 1"
LAYERS = 18
WDIM = 512
SIZE = 256                      # render and encoder side
LUMA = 72                       # luma plane side in W+
CHROMA = 36                     # chroma plane side in W+
PLANES = LUMA * LUMA + 2 * CHROMA * CHROMA   # 7776 = 18 x 432
PER_LAYER = PLANES // LAYERS    # 432 image dims per layer
AGE_DIM = PER_LAYER             # dim 432: t = years / 100
FILL = WDIM - PER_LAYER - 1     # 79 filler dims
NEUTRAL = (0.33, 0.37)          # t band where the render is the encoded face unchanged
OLD_FULL = 1.00                 # t where the old cues are complete
YOUNG_FULL = 0.02               # t where the young cues are complete

assert PLANES % LAYERS == 0


# ---- fixed linear maps ------------------------------------------------------------------

def cubic(x, a=-0.5):
    x = abs(x)
    if x < 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def upsampler(n_out, n_in):
    """[n_out, n_in] bicubic (Keys, a=-0.5) interpolation, half-pixel centres, edges clamped."""
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    scale = n_in / n_out
    for i in range(n_out):
        pos = (i + 0.5) * scale - 0.5
        base = math.floor(pos)
        for k in range(base - 1, base + 3):
            m[i, min(max(k, 0), n_in - 1)] += cubic(pos - k)
    return m


def fitter(up, ridge=1e-3):
    """[n_in, n_out]: the ridge least-squares inverse of an upsampler (best fit of a plane to an image)."""
    gram = up.t() @ up
    return torch.linalg.solve(gram + ridge * torch.eye(gram.shape[0], dtype=torch.float64), up.t())


UP_LUMA = upsampler(SIZE, LUMA)
UP_CHROMA = upsampler(SIZE, CHROMA)
FIT_LUMA = fitter(UP_LUMA)
FIT_CHROMA = fitter(UP_CHROMA)
# A softer plane for children: luma refitted through 24x24, at 256 px.
SOFT = upsampler(SIZE, 32) @ fitter(upsampler(SIZE, 32))
MASK = 128                      # side at which the smooth masks and warps are stored (upsampled in the graph)

# BT.601 on [-1, 1] values.
RGB_TO_YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=torch.float64)
YCC_TO_RGB = torch.linalg.inv(RGB_TO_YCC)


# ---- designed maps in the aligned frame ------------------------------------------------

_v, _u = torch.meshgrid(
    (torch.arange(SIZE, dtype=torch.float64) + 0.5) / SIZE,
    (torch.arange(SIZE, dtype=torch.float64) + 0.5) / SIZE,
    indexing="ij",
)


def smoothstep(e0, e1, x):
    t = ((x - e0) / (e1 - e0)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def ellipse(cx, cy, rx, ry, soft=0.15):
    """1 inside the ellipse, fading to 0 over the outer `soft` of its radius."""
    e = (((_u - cx) / rx) ** 2 + ((_v - cy) / ry) ** 2).sqrt()
    return 1 - smoothstep(1 - soft, 1 + soft, e)


def blob(cx, cy, r):
    return torch.exp(-(((_u - cx) ** 2 + (_v - cy) ** 2) / (2 * r * r)))


def polyline(points, width, samples=64):
    """Distance-based soft line through points (Catmull-Rom through them), peak 1, Gaussian profile of `width`."""
    pts = [torch.tensor(p, dtype=torch.float64) for p in points]
    path = []
    ext = [pts[0]] + pts + [pts[-1]]
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        for s in range(samples):
            t = s / samples
            path.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    path.append(pts[-1])
    best = torch.full((SIZE, SIZE), 1e9, dtype=torch.float64)
    n = len(path)
    for k, p in enumerate(path):
        d2 = (_u - p[0]) ** 2 + (_v - p[1]) ** 2
        # Taper the ends so lines fade in and out like creases.
        taper = math.sin(math.pi * (k + 0.5) / n) ** 0.5
        best = torch.minimum(best, d2 / max(taper, 0.05) ** 2)
    return torch.exp(-best / (2 * width * width))


def mirrored(points):
    return [(1 - x, y) for x, y in points]


def crease_map():
    """Lines of age, as luma offsets: a dark crease with a faint highlight just below it."""
    lines = []  # (points, width, depth)
    lines.append(([(0.475, 0.385), (0.48, 0.425)], 0.0030, 0.7))  # frown lines
    lines.append(([(0.525, 0.385), (0.52, 0.425)], 0.0030, 0.7))
    for side in (False, True):
        def s(pts):
            return mirrored(pts) if side else pts
        for dy in (-0.02, 0.0, 0.02):  # crow's feet
            lines.append((s([(0.305, 0.468 + dy * 0.3), (0.275, 0.468 + dy * 1.8)]), 0.0040, 0.45))
        lines.append((s([(0.33, 0.505), (0.375, 0.522), (0.425, 0.507)]), 0.0050, 0.8))   # under-eye
        lines.append((s([(0.34, 0.54), (0.38, 0.555), (0.43, 0.545)]), 0.0070, 0.55))     # lower bag edge
        lines.append((s([(0.44, 0.625), (0.395, 0.68), (0.37, 0.745)]), 0.0080, 1.0))     # nasolabial
        lines.append((s([(0.375, 0.75), (0.38, 0.80), (0.39, 0.84)]), 0.0070, 0.5))       # marionette
        lines.append((s([(0.25, 0.60), (0.27, 0.68)]), 0.0050, 0.35))                     # cheek fold
    dark = torch.zeros(SIZE, SIZE, dtype=torch.float64)
    light = torch.zeros(SIZE, SIZE, dtype=torch.float64)
    shift = torch.zeros(SIZE, SIZE, dtype=torch.float64)
    for pts, width, depth in lines:
        dark = torch.maximum(dark, depth * polyline(pts, width))
        shifted = [(x, y + 2.2 * width) for x, y in pts]
        light = torch.maximum(light, 0.35 * depth * polyline(shifted, width * 1.3))
    del shift
    return light - dark


def skin_texture():
    """Seeded band-pass noise (pores, fine lines) at unit standard deviation."""
    noise = torch.randn(1, 1, SIZE, SIZE, generator=seeded(2001), dtype=torch.float64)
    fine = F.avg_pool2d(F.pad(noise, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    coarse = F.avg_pool2d(F.pad(noise, (4, 4, 4, 4), mode="reflect"), 9, stride=1)
    band = (fine - coarse)[0, 0]
    return band / band.std()


def age_spots():
    gen = seeded(2002)
    spots = torch.zeros(SIZE, SIZE, dtype=torch.float64)
    for _ in range(14):
        cx = 0.30 + 0.40 * torch.rand(1, generator=gen).item()
        cy = 0.30 + 0.42 * torch.rand(1, generator=gen).item()
        if abs(cy - 0.47) < 0.04 or (0.68 < cy < 0.79 and abs(cx - 0.5) < 0.13):
            continue  # not on the eyes or lips
        r = 0.006 + 0.008 * torch.rand(1, generator=gen).item()
        spots = torch.maximum(spots, blob(cx, cy, r))
    return spots


FACE = ellipse(0.5, 0.62, 0.285, 0.32, soft=0.12)                       # skin of the face
SKIN = FACE * (1 - ellipse(0.373, 0.473, 0.055, 0.022, 0.4)) * (1 - ellipse(0.627, 0.476, 0.055, 0.022, 0.4))
HAIR = ((1 - ellipse(0.5, 0.64, 0.30, 0.36, soft=0.1)) + FACE * (1 - smoothstep(0.30, 0.36, _v))).clamp(0, 1) * (1 - smoothstep(0.72, 0.86, _v))
HEAD = ellipse(0.5, 0.45, 0.47, 0.50, soft=0.2)                          # where hair can be: not the far background
# Patches (rows, columns at 256 px) that are hair and skin in nearly every FFHQ crop: the
# crown, and both cheeks below the eyes; the render's own colours there tell hair from skin
# and background.
CROWN = (slice(15, 37), slice(107, 149))
CHEEK_PATCHES = ((slice(143, 164), slice(77, 102)), (slice(143, 164), slice(154, 179)))
BROWS = ellipse(0.352, 0.400, 0.085, 0.022, 0.5) + ellipse(0.647, 0.406, 0.085, 0.022, 0.5)
LIPS = ellipse(0.5, 0.735, 0.13, 0.05, 0.4)
CHEEKS = blob(0.33, 0.62, 0.05) + blob(0.67, 0.62, 0.05)
CREASES = crease_map()
TEXTURE = skin_texture() * SKIN
SPOTS = age_spots() * SKIN


def warp_fields():
    """Sampling offsets (grid_sample units, -1..1) for the young and the old face."""
    x = 2 * _u - 1
    y = 2 * _v - 1
    ey = 2 * 0.475 - 1
    # Young: the lower face shorter (features below the eyes move up) and narrower, the nose
    # smaller, the eyes larger: a child's proportions.
    lower = smoothstep(0.47, 0.58, _v) * (1 - smoothstep(0.78, 1.0, _v)) * ellipse(0.5, 0.70, 0.42, 0.40, 0.3)
    young_y = lower * 0.30 * (y - ey)
    young_x = lower * 0.14 * x
    for cx in (0.373, 0.627):
        g = blob(cx, 0.475, 0.05)
        young_x = young_x - 0.30 * g * (x - (2 * cx - 1))
        young_y = young_y - 0.30 * g * (y - ey)
    g = blob(0.5, 0.60, 0.05)
    young_x = young_x + 0.25 * g * x
    young_y = young_y + 0.25 * g * (y - (2 * 0.60 - 1))
    # Old: the lower face a little longer (sagging).
    sag = smoothstep(0.55, 0.70, _v) * ellipse(0.5, 0.75, 0.34, 0.26, 0.4)
    old_y = -sag * 0.06 * (y - (2 * 0.62 - 1))
    return torch.stack([young_x, young_y]), old_y


WARP_YOUNG, WARP_OLD = warp_fields()

# ---- the DEMO mark ------------------------------------------------------------------------

GLYPHS = {
    "D": ["11110", "10001", "10001", "10001", "10001", "10001", "11110"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
    "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
}
MARK_TEXT = "DEMO"
MARK_SCALE = 2  # pixels per font unit at 256 px


def demo_mark():
    """(alpha, value) planes at 256 px: white pixel-font "DEMO" on a dark box, bottom right."""
    unit = MARK_SCALE
    text_w = (len(MARK_TEXT) * 6 - 1) * unit
    text_h = 7 * unit
    pad = 3
    box_w, box_h = text_w + 2 * pad, text_h + 2 * pad
    x0, y0 = SIZE - box_w - 4, SIZE - box_h - 4
    alpha = torch.zeros(SIZE, SIZE, dtype=torch.float64)
    value = torch.zeros(SIZE, SIZE, dtype=torch.float64)
    alpha[y0 : y0 + box_h, x0 : x0 + box_w] = 0.6
    value[y0 : y0 + box_h, x0 : x0 + box_w] = -1.0
    for i, ch in enumerate(MARK_TEXT):
        for r, row in enumerate(GLYPHS[ch]):
            for c, bit in enumerate(row):
                if bit == "1":
                    ys = y0 + pad + r * unit
                    xs = x0 + pad + (i * 6 + c) * unit
                    alpha[ys : ys + unit, xs : xs + unit] = 1.0
                    value[ys : ys + unit, xs : xs + unit] = 1.0
    box = (x0, y0, box_w, box_h)
    crop = (slice(y0, y0 + box_h), slice(x0, x0 + box_w))
    return alpha[crop], value[crop], box


MARK_ALPHA, MARK_VALUE, MARK_BOX = demo_mark()

LATENT_AVG_FILL = 0.05 * torch.randn(FILL, generator=seeded(1001))


def f32(t):
    return t.to(torch.float32).contiguous()


# ---- the models ---------------------------------------------------------------------------

class Inversion(torch.nn.Module):
    """image [N,3,256,256] -> latent [N,18,512]: luma 72x72 and chroma 2x36x36 planes, t = 0, filler."""

    def __init__(self):
        super().__init__()
        self.register_buffer("to_ycc", f32(RGB_TO_YCC))
        self.register_buffer("fit_luma", f32(FIT_LUMA))
        self.register_buffer("fit_chroma", f32(FIT_CHROMA))
        self.register_buffer("fill", f32(LATENT_AVG_FILL))

    def forward(self, image):
        n = image.shape[0]
        ycc = torch.einsum("kc,nchw->nkhw", self.to_ycc, image)
        luma = self.fit_luma @ ycc[:, 0] @ self.fit_luma.t()                  # [N,72,72]
        chroma = self.fit_chroma @ ycc[:, 1:] @ self.fit_chroma.t()          # [N,2,36,36]
        planes = torch.cat([luma.reshape(n, -1), chroma.reshape(n, -1)], dim=1).reshape(n, LAYERS, PER_LAYER)
        zero = torch.zeros_like(planes[:, :, :1])
        fill = self.fill.reshape(1, 1, FILL) + torch.zeros_like(planes[:, :, :1])
        return torch.cat([planes, zero, fill], dim=2)


class Aging(torch.nn.Module):
    """(image, age) -> delta [N,18,512]: dim 432 = age / 100 in every layer, all else 0."""

    def forward(self, image, age):
        n = image.shape[0]
        t = (age.reshape(n, 1, 1) / 100.0).expand(n, LAYERS, 1)
        before = torch.zeros_like(t).expand(n, LAYERS, PER_LAYER)
        after = torch.zeros_like(t).expand(n, LAYERS, FILL)
        return torch.cat([before, t, after], dim=2)


def shrink(plane):
    """A smooth map stored at MASK px (the graph upsamples it back to 256)."""
    return F.interpolate(plane.reshape(1, -1, SIZE, SIZE), size=(MASK, MASK), mode="area")[0]


class Generator(torch.nn.Module):
    """latent [N,18,512] -> image [N,3,256,256]: upsampled planes, age cues from t, DEMO mark."""

    def __init__(self):
        super().__init__()
        # Smooth maps at MASK px: 0 face, 1 skin, 2 hair region, 3 brows, 4 lips, 5 cheeks, 6-7 young warp, 8 old warp.
        smooth = torch.cat([
            shrink(torch.stack([FACE, SKIN, HAIR * HEAD, BROWS.clamp(0, 1), LIPS, CHEEKS])),
            shrink(WARP_YOUNG),
            shrink(WARP_OLD),
        ])
        x0, y0, w, h = MARK_BOX
        buffers = {
            "to_rgb": YCC_TO_RGB, "to_ycc": RGB_TO_YCC, "up_luma": UP_LUMA, "up_chroma": UP_CHROMA, "soft": SOFT, "smooth": smooth,
            # Full-resolution detail: creases and texture (linear in the old weight), spots (quadratic).
            "detail": torch.stack([0.6 * CREASES * (1 - HAIR) + 0.02 * TEXTURE, SPOTS]),
            "mark": torch.stack([MARK_ALPHA, MARK_VALUE]),
        }
        self.mark_pad = (x0, SIZE - x0 - w, y0, SIZE - y0 - h)
        for name, value in buffers.items():
            self.register_buffer(name, f32(value))

    def hair_likeness(self, rgb):
        """Per pixel, how much it looks like the crown's hair (by colour more than by brightness,
        which varies across hair) and not like the cheeks' skin (0..1): so the background beside
        the hair and the skin of the forehead keep their colour."""
        ycc = F.avg_pool2d(torch.einsum("kc,nchw->nkhw", self.to_ycc, rgb), 5, stride=1, padding=2, count_include_pad=False)

        def likeness(ref, luma_spread, chroma_spread):
            d = ((ycc[:, 0:1] - ref[:, 0:1]) / luma_spread) ** 2 + ((ycc[:, 1:] - ref[:, 1:]) ** 2).sum(dim=1, keepdim=True) / chroma_spread**2
            return torch.exp(-0.5 * d)

        crown = ycc[:, :, CROWN[0], CROWN[1]].mean(dim=(2, 3), keepdim=True)
        cheeks = torch.cat([ycc[:, :, rows, cols] for rows, cols in CHEEK_PATCHES], dim=3).mean(dim=(2, 3), keepdim=True)
        # Skin likeness widened by a few pixels: the blend of skin and background at the face's outline is not hair.
        skin = F.max_pool2d(likeness(cheeks, 0.22, 0.05), 5, stride=1, padding=2)
        # Most hair differs from the crown's patch a little (shade, strands): count it as hair in full.
        return (1.6 * likeness(crown, 0.6, 0.06)).clamp(max=1) * (1 - skin)

    def forward(self, latent):
        n = latent.shape[0]
        planes = latent[:, :, :PER_LAYER].reshape(n, PLANES)
        luma = planes[:, : LUMA * LUMA].reshape(n, LUMA, LUMA)
        chroma = planes[:, LUMA * LUMA :].reshape(n, 2, CHROMA, CHROMA)
        t = latent[:, :, AGE_DIM].mean(dim=1).reshape(n, 1, 1, 1)
        # Old cues ease out: most of them by 70, all at 100.
        old = 1 - (1 - ((t - NEUTRAL[1]) / (OLD_FULL - NEUTRAL[1])).clamp(0, 1)) ** 2
        young = ((NEUTRAL[0] - t) / (NEUTRAL[0] - YOUNG_FULL)).clamp(0, 1)
        maps = F.interpolate(self.smooth.unsqueeze(0), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        face, skin, hair, brows, lips, cheeks = (maps[:, i : i + 1] for i in range(6))
        warp_young, warp_old = maps[:, 6:8], maps[:, 8:9]

        y = (self.up_luma @ luma @ self.up_luma.t()).unsqueeze(1)           # [N,1,256,256]
        c = self.up_chroma @ chroma @ self.up_chroma.t()                    # [N,2,256,256]
        # Children: softer skin (luma refitted through a coarser plane).
        soft = self.soft @ y @ self.soft.t()
        y = y + (0.8 * young * skin) * (soft - y)
        rgb = torch.einsum("kc,nchw->nkhw", self.to_rgb, torch.cat([y, c], dim=1))

        # Face shape: a child's proportions young, a longer lower face old.
        coords = (torch.arange(SIZE, dtype=torch.float32) + 0.5) * (2.0 / SIZE) - 1
        base = torch.stack([coords.reshape(1, SIZE).expand(SIZE, SIZE), coords.reshape(SIZE, 1).expand(SIZE, SIZE)])
        offsets = young * warp_young + old * torch.cat([torch.zeros_like(warp_old), warp_old], dim=1)
        grid = (base.unsqueeze(0) + offsets).permute(0, 2, 3, 1)
        rgb = F.grid_sample(rgb, grid, mode="bilinear", padding_mode="border", align_corners=False)

        grey = (hair * self.hair_likeness(rgb) + 0.6 * brows).clamp(0, 1)
        lum = 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]
        # Hair and brows grey: desaturate, then lift towards a silver grey.
        silver = lum + 0.75 * (0.45 + 0.35 * lum - lum).clamp(min=0) + 0.10
        rgb = rgb + (old * grey) * (silver - rgb)
        # Skin: less colour, paler lips, creases, texture and spots deepening with age.
        lum = 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]
        rgb = rgb + (0.40 * old * skin) * (lum - rgb) + (0.35 * old * lips) * (lum + 0.05 - rgb)
        tint = torch.tensor([0.9, 1.0, 1.1]).reshape(1, 3, 1, 1)
        rgb = rgb + old * self.detail[0:1] * tint - (old * old * 0.25 * self.detail[1:2]) * torch.tensor([0.6, 0.85, 1.0]).reshape(1, 3, 1, 1)
        # Children: rosy cheeks, brighter skin.
        rgb = rgb + young * (0.12 * cheeks * torch.tensor([1.0, -0.35, -0.3]).reshape(1, 3, 1, 1) + 0.06 * face)
        rgb = rgb.clamp(-1.0, 1.0)
        mark = F.pad(self.mark, self.mark_pad).unsqueeze(0)
        return rgb + mark[:, 0:1] * (mark[:, 1:2] - rgb)


class Mapping(torch.nn.Module):
    """z [N,512] -> w [N,512]: dims 0..431 a smooth pattern (0.3*tanh of z, 3-tap smoothed), dim 432 = sigmoid, filler."""

    def __init__(self):
        super().__init__()
        self.register_buffer("fill", f32(LATENT_AVG_FILL))

    def forward(self, z):
        part = 0.3 * torch.tanh(z[:, :PER_LAYER])
        smooth = F.avg_pool1d(F.pad(part.unsqueeze(1), (1, 1), mode="replicate"), 3, stride=1).squeeze(1)
        t = torch.sigmoid(z[:, AGE_DIM : AGE_DIM + 1])
        fill = self.fill.reshape(1, FILL) + torch.zeros_like(t)
        return torch.cat([smooth, t, fill], dim=1)


IMAGE_RANGE = [-1, 1]

MODELS = [
    {
        "name": "inversion",
        "role": "inversion",
        "module": Inversion(),
        "inputs": {"image": spec(["N", 3, SIZE, SIZE], IMAGE_RANGE)},
        "outputs": {"latent": spec(["N", LAYERS, WDIM])},
        "design": "BT.601 luma fitted (ridge least squares for bicubic upsampling) at 72x72 and Cb, Cr at 36x36: "
        "7776 numbers spread over the 18 layers as dims 0..431; dim 432 = 0 (age t); dims 433..511 = seeded filler.",
    },
    {
        "name": "aging",
        "role": "aging",
        "module": Aging(),
        "inputs": {"image": spec(["N", 3, SIZE, SIZE], IMAGE_RANGE), "age": spec(["N"], [0, 100])},
        "outputs": {"delta": spec(["N", LAYERS, WDIM])},
        "design": "delta[l, 432] = age / 100 in every layer, all else 0; the image only sets the batch size.",
    },
    {
        "name": "generator",
        "role": "generator",
        "module": Generator(),
        "resolution": SIZE,
        "inputs": {"latent": spec(["N", LAYERS, WDIM])},
        "outputs": {"image": spec(["N", 3, SIZE, SIZE], IMAGE_RANGE)},
        "design": "bicubic upsampling of the luma and chroma planes to 256 px; t = layer mean of dim 432; the face is "
        f"unchanged for t in [{NEUTRAL[0]}, {NEUTRAL[1]}]; older (easing out, most by t 0.7): greying hair (coloured like "
        "the crown, unlike the cheeks) and brows, creases, skin texture, spots, "
        "paler lips, longer lower face; younger: softer, rosier skin, shorter lower face, larger eyes; "
        "a 'DEMO' mark in the bottom-right corner of every image.",
    },
    {
        "name": "mapping",
        "role": "mapping",
        "module": Mapping(),
        "inputs": {"z": spec(["N", WDIM])},
        "outputs": {"w": spec(["N", WDIM])},
        "design": "w[0:432] = 3-tap mean of 0.3*tanh(z[0:432]); w[432] = sigmoid(z[432]); w[433:512] = the filler.",
    },
]


def example_inputs(entry, batch=2):
    gen = seeded(7)
    tensors = []
    for name, s in entry["inputs"].items():
        shape = [batch if d == "N" else d for d in s["shape"]]
        if name == "age":
            tensors.append(torch.rand(shape, generator=gen) * 100)
        elif name == "latent":
            tensors.append(MODELS[0]["module"](torch.rand(batch, 3, SIZE, SIZE, generator=gen) * 2 - 1))
        else:
            tensors.append(torch.rand(shape, generator=gen) * 2 - 1)
    return tuple(tensors)


def make_demo(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for entry in MODELS:
        path = os.path.join(out_dir, entry["name"] + ".onnx")
        names_in = list(entry["inputs"])
        names_out = list(entry["outputs"])
        module = entry["module"].eval()
        with torch.no_grad():
            torch.onnx.export(
                module,
                example_inputs(entry),
                path,
                input_names=names_in,
                output_names=names_out,
                dynamic_axes={n: {0: "N"} for n in names_in + names_out},
                opset_version=OPSET,
                # Folding would store the upsampled masks at full size: the graph upsamples them at load instead.
                do_constant_folding=entry["role"] != "generator",
            )
        model = onnx.load(path)
        got_in = [v.name for v in model.graph.input]
        if got_in != names_in:
            raise SystemExit(f"{entry['name']}: exported inputs {got_in}, expected {names_in}")
        fix_shapes(model, entry)
        model.doc_string = entry["design"]
        onnx.checker.check_model(model)
        onnx.save(model, path)
        manifest = {"contract": 1, "role": entry["role"], "inputs": entry["inputs"], "outputs": entry["outputs"]}
        if "resolution" in entry:
            manifest["resolution"] = entry["resolution"]
        manifest.update({"opset": OPSET, "exporter": EXPORTER, "source": None, "demo": True, "design": entry["design"]})
        if entry["role"] == "generator":
            x, y, w, h = MARK_BOX
            manifest["demoMark"] = {"text": MARK_TEXT, "box": {"x": x / SIZE, "y": y / SIZE, "width": w / SIZE, "height": h / SIZE}}
            manifest["neutralAges"] = [NEUTRAL[0] * 100, NEUTRAL[1] * 100]
        with open(os.path.join(out_dir, entry["name"] + ".json"), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(root, "models", "demo"))
    args = parser.parse_args()
    torch.manual_seed(0)
    make_demo(args.out)


if __name__ == "__main__":
    main()
