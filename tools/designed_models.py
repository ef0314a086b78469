"""What the designed model generators (tools/tiny-models, tools/demo-models) share: seeded
generators, tensor specs as the contracts write them, and the exact contract shapes written
onto an exported graph."""


def seeded(seed):
    import torch
    return torch.Generator().manual_seed(seed)


def spec(shape, value_range=None):
    out = {"type": "float32", "shape": shape}
    if value_range is not None:
        out["range"] = value_range
    return out


def fix_shapes(model, entry):
    """Writes the exact contract shapes (with "N") on the graph's inputs and outputs."""
    declared = {**entry["inputs"], **entry["outputs"]}
    for value in list(model.graph.input) + list(model.graph.output):
        want = declared[value.name]["shape"]
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for d in want:
            dim = dims.add()
            if isinstance(d, str):
                dim.dim_param = d
            else:
                dim.dim_value = d
