#!/usr/bin/python3
"""Generates the tiny *designed* models used as test fixtures.

Run with a Python that has torch (1.13) and onnx (1.12):

    /usr/bin/python3 tools/tiny-models/make_tiny.py [--out DIR] [--heavy-out DIR]

Every model follows the contract table of DESIGN.md (names, shapes, dynamic batch axis
"N") and has a hand-designed behaviour that tests can check numerically; see
test/fixtures/models/tiny/README.md. All constants come from fixed seeds, so two runs
write the same files.
"""

import argparse
import json
import os
import sys

import onnx
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from designed_models import fix_shapes, seeded, spec  # noqa: E402

OPSET = 17
EXPORTER = "tiny-models 1"
LAYERS = 18
WDIM = 512
THUMB = 8                      # thumbnail side
TDIM = 3 * THUMB * THUMB       # 192 thumbnail dims
AGE_DIM = TDIM                 # dim 192: age coordinate t = years / 100
FILL = WDIM - TDIM - 1         # 319 latent_avg filler dims


# Fixed seeded constants.
LATENT_AVG_FILL = 0.05 * torch.randn(FILL, generator=seeded(1001))          # dims 193..511, same in every layer
AGE_DRIFT = torch.randint(0, 2, (TDIM,), generator=seeded(1002)).float() * 2 - 1  # S: +-1 pattern (3x8x8)
ID_PROJECTION = torch.randn(WDIM, TDIM, generator=seeded(1003))             # 512x192 Gaussian
HEAVY_WEIGHT = torch.randn(64, 64, 3, 3, generator=seeded(1004)) * (2.0 / (64 * 9)) ** 0.5
HEAVY_BIAS = torch.zeros(64)


class Inversion(torch.nn.Module):
    """image [N,3,256,256] -> latent [N,18,512]: 8x8 average-pooled thumbnail in every layer, t = 0, filler."""

    def __init__(self):
        super().__init__()
        self.register_buffer("fill", LATENT_AVG_FILL.clone())

    def forward(self, image):
        n = image.shape[0]
        thumb = F.avg_pool2d(image, kernel_size=256 // THUMB).reshape(n, 1, TDIM)
        zero = torch.zeros_like(thumb[:, :, :1])
        fill = self.fill.reshape(1, 1, FILL) + zero  # broadcast to [N,1,FILL]
        layer = torch.cat([thumb, zero, fill], dim=2)  # [N,1,512]
        return layer.expand(n, LAYERS, WDIM)


class Aging(torch.nn.Module):
    """(image, age) -> delta: dim 192 = (0.8a+12)/100, dims 0..191 = 0.2*(a/100)*S, rest 0; same in every layer."""

    def __init__(self):
        super().__init__()
        self.register_buffer("drift", AGE_DRIFT.clone())

    def forward(self, image, age):
        n = image.shape[0]
        a = age.reshape(n, 1, 1)
        thumb = 0.2 * (a / 100.0) * self.drift.reshape(1, 1, TDIM)
        t = (0.8 * a + 12.0) / 100.0
        rest = torch.zeros_like(a).expand(n, 1, FILL)
        layer = torch.cat([thumb, t, rest], dim=2)  # [N,1,512]
        return layer.expand(n, LAYERS, WDIM)


class Generator(torch.nn.Module):
    """latent -> image [N,3,R,R]: layer-mean thumbnail, nearest upsampling, clamp, top R/8 rows = band 2t-1."""

    def __init__(self, resolution):
        super().__init__()
        self.resolution = resolution
        mask = torch.zeros(1, 1, resolution, resolution)
        mask[:, :, : resolution // 8, :] = 1.0
        self.register_buffer("band_mask", mask)

    def forward(self, latent):
        n = latent.shape[0]
        r = self.resolution
        k = r // THUMB
        mean = latent.mean(dim=1)  # [N,512]
        thumb = mean[:, :TDIM].reshape(n, 3, THUMB, 1, THUMB, 1)
        img = thumb.expand(n, 3, THUMB, k, THUMB, k).reshape(n, 3, r, r)  # nearest upsampling by k
        img = img.clamp(-1.0, 1.0)
        t = mean[:, AGE_DIM].reshape(n, 1, 1, 1)
        band = (2.0 * t - 1.0).clamp(-1.0, 1.0)
        return img * (1.0 - self.band_mask) + band * self.band_mask


class Mapping(torch.nn.Module):
    """z [N,512] -> w [N,512]: 0.9*tanh on dims 0..191, sigmoid on dim 192, filler on the rest."""

    def __init__(self):
        super().__init__()
        self.register_buffer("fill", LATENT_AVG_FILL.clone())

    def forward(self, z):
        thumb = 0.9 * torch.tanh(z[:, :TDIM])
        t = torch.sigmoid(z[:, AGE_DIM : AGE_DIM + 1])
        fill = self.fill.reshape(1, FILL) + torch.zeros_like(t)
        return torch.cat([thumb, t, fill], dim=1)


class AgeNet(torch.nn.Module):
    """image [N,3,224,224] -> age [N], probs [N,101]: raw = 100*(m+1)/2 from the top 24 rows, Gaussian softmax, expectation."""

    def __init__(self):
        super().__init__()
        self.register_buffer("ages", torch.arange(101, dtype=torch.float32).reshape(1, 101))

    def forward(self, image):
        m = image[:, :, 0:24, :].mean(dim=(1, 2, 3)).reshape(-1, 1)  # [N,1]
        raw = 100.0 * (m + 1.0) / 2.0
        logits = -((self.ages - raw) ** 2) / (2.0 * 1.5**2)
        probs = torch.softmax(logits, dim=1)
        age = (probs * self.ages).sum(dim=1)
        return age, probs


class Identity(torch.nn.Module):
    """image [N,3,112,112] -> embedding [N,512]: rows 16..111, 8x8 average pool, centre, Gaussian projection, L2 norm."""

    def __init__(self):
        super().__init__()
        self.register_buffer("projection", ID_PROJECTION.t().contiguous())  # [192,512]

    def forward(self, image):
        crop = image[:, :, 16:112, :]  # [N,3,96,112]
        pooled = F.avg_pool2d(crop, kernel_size=(96 // THUMB, 112 // THUMB))  # [N,3,8,8]
        feats = pooled.reshape(-1, TDIM)
        feats = feats - feats.mean(dim=1, keepdim=True)
        emb = feats @ self.projection
        return emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-12)


class Heavy(torch.nn.Module):
    """x [1,64,H,W] -> y: six 3x3 convolutions 64->64 with ReLU, all sharing one weight."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(HEAVY_WEIGHT.clone())
        self.bias = torch.nn.Parameter(HEAVY_BIAS.clone())

    def forward(self, x):
        for _ in range(6):
            x = F.relu(F.conv2d(x, self.weight, self.bias, padding=1))
        return x


IMAGE_RANGE = [-1, 1]

MODELS = [
    {
        "name": "inversion",
        "role": "inversion",
        "module": Inversion(),
        "inputs": {"image": spec(["N", 3, 256, 256], IMAGE_RANGE)},
        "outputs": {"latent": spec(["N", LAYERS, WDIM])},
        "design": "latent[l, 0:192] = 8x8 average pool of the image (channel-major 3x8x8), the same in all 18 layers; "
        "latent[l, 192] = 0 (age coordinate t); latent[l, 193:512] = fixed seeded latent_avg filler (0.05*randn, seed 1001), "
        "the same in every layer, ignored by the generator.",
    },
    {
        "name": "aging",
        "role": "aging",
        "module": Aging(),
        "inputs": {"image": spec(["N", 3, 256, 256], IMAGE_RANGE), "age": spec(["N"], [0, 100])},
        "outputs": {"delta": spec(["N", LAYERS, WDIM])},
        "design": "delta[l, 192] = (0.8*age + 12)/100 in every layer (deliberate bias: rendered age = 0.8a+12); "
        "delta[l, 0:192] = 0.2*(age/100)*S with S a fixed seeded +-1 pattern (seed 1002), the same in every layer "
        "(identity drifts a little with age); delta[l, 193:512] = 0. The image only sets the batch size.",
    },
    {
        "name": "generator",
        "role": "generator",
        "module": Generator(64),
        "resolution": 64,
        "inputs": {"latent": spec(["N", LAYERS, WDIM])},
        "outputs": {"image": spec(["N", 3, 64, 64], IMAGE_RANGE)},
        "design": "thumbnail = mean over the 18 layers of dims 0..191 (3x8x8), nearest-neighbour upsampled to 64x64, "
        "clamped to [-1,1]; then the top 8 rows (R/8) of all channels = b = clamp(2t-1, -1, 1), t = mean over layers of dim 192.",
    },
    {
        "name": "generator-512",
        "role": "generator",
        "module": Generator(48),
        "resolution": 48,
        "inputs": {"latent": spec(["N", LAYERS, WDIM])},
        "outputs": {"image": spec(["N", 3, 48, 48], IMAGE_RANGE)},
        "design": "middle generator variant (stands for the 512 one): as generator.onnx but R = 48: thumbnail = layer "
        "mean of dims 0..191, nearest-neighbour upsampled to 48x48, clamped; top 6 rows (R/8) = b = clamp(2t-1, -1, 1).",
    },
    {
        "name": "generator-256",
        "role": "generator",
        "module": Generator(32),
        "resolution": 32,
        "inputs": {"latent": spec(["N", LAYERS, WDIM])},
        "outputs": {"image": spec(["N", 3, 32, 32], IMAGE_RANGE)},
        "design": "cheaper generator variant: as generator.onnx but R = 32: thumbnail = layer mean of dims 0..191, "
        "nearest-neighbour upsampled to 32x32, clamped; top 4 rows (R/8) = b = clamp(2t-1, -1, 1).",
    },
    {
        "name": "mapping",
        "role": "mapping",
        "module": Mapping(),
        "inputs": {"z": spec(["N", WDIM])},
        "outputs": {"w": spec(["N", WDIM])},
        "design": "w[0:192] = 0.9*tanh(z[0:192]); w[192] = sigmoid(z[192]); w[193:512] = the latent_avg filler of one layer.",
    },
    {
        "name": "age",
        "role": "age",
        "module": AgeNet(),
        "inputs": {"image": spec(["N", 3, 224, 224], IMAGE_RANGE)},
        "outputs": {"age": spec(["N"]), "probs": spec(["N", 101])},
        "design": "m = mean of rows 0..23 over all channels and columns; raw = 100*(m+1)/2 (not clamped); "
        "probs[k] = softmax over k=0..100 of -(k-raw)^2/(2*1.5^2); age = sum k*probs[k] (DEX-style expectation).",
    },
    {
        "name": "identity",
        "role": "identity",
        "module": Identity(),
        "inputs": {"image": spec(["N", 3, 112, 112], IMAGE_RANGE)},
        "outputs": {"embedding": spec(["N", WDIM])},
        "design": "crop rows 16..111 (skips the age band), average pool (12x14 windows) to 3x8x8 = 192 features, "
        "subtract their mean, multiply by a fixed seeded Gaussian 512x192 matrix (seed 1003), L2-normalize.",
    },
]


def example_inputs(entry, batch=2):
    gen = seeded(7)
    tensors = []
    for name, s in entry["inputs"].items():
        shape = [batch if d == "N" else d for d in s["shape"]]
        if name == "age":
            tensors.append(torch.rand(shape, generator=gen) * 100)
        else:
            tensors.append(torch.rand(shape, generator=gen) * 2 - 1)
    return tuple(tensors)


def export(module, args, path, input_names, output_names, dynamic_axes):
    module.eval()
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            path,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )


def make_tiny(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for entry in MODELS:
        path = os.path.join(out_dir, entry["name"] + ".onnx")
        names_in = list(entry["inputs"])
        names_out = list(entry["outputs"])
        axes = {n: {0: "N"} for n in names_in + names_out}
        export(entry["module"], example_inputs(entry), path, names_in, names_out, axes)
        model = onnx.load(path)
        got_in = [v.name for v in model.graph.input]
        if got_in != names_in:
            raise SystemExit(f"{entry['name']}: exported inputs {got_in}, expected {names_in}")
        fix_shapes(model, entry)
        model.doc_string = entry["design"]
        onnx.checker.check_model(model)
        onnx.save(model, path)
        manifest = {
            "contract": 1,
            "role": entry["role"],
            "inputs": entry["inputs"],
            "outputs": entry["outputs"],
        }
        if "resolution" in entry:
            manifest["resolution"] = entry["resolution"]
        manifest.update({"opset": OPSET, "exporter": EXPORTER, "source": None, "design": entry["design"]})
        with open(os.path.join(out_dir, entry["name"] + ".json"), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def make_heavy(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "heavy.onnx")
    x = torch.rand(1, 64, 16, 16, generator=seeded(8))
    export(Heavy(), (x,), path, ["x"], ["y"], {"x": {2: "H", 3: "W"}, "y": {2: "H", 3: "W"}})
    model = onnx.load(path)
    weights = [i for i in model.graph.initializer if len(i.dims) == 4]
    if len(weights) != 1:
        raise SystemExit(f"heavy: expected one shared weight initializer, found {len(weights)}")
    onnx.checker.check_model(model)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(root, "test", "fixtures", "models", "tiny"))
    parser.add_argument("--heavy-out", default=os.path.join(root, "test", "fixtures", "models", "heavy"))
    args = parser.parse_args()
    torch.manual_seed(0)
    make_tiny(args.out)
    make_heavy(args.heavy_out)


if __name__ == "__main__":
    main()
