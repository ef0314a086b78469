/** A float32 tensor as it crosses the worker boundary: plain data, no onnxruntime objects. */
export interface Tensor {
  dims: number[];
  data: Float32Array;
}

/** Named tensors, as fed to or returned by a model. */
export type TensorMap = Record<string, Tensor>;

/** Stacks single-image tensors [1,C,H,W] into one batch [N,C,H,W]. */
export function stackTensors(tensors: readonly Tensor[]): Tensor {
  const [, c, h, w] = tensors[0].dims;
  const data = new Float32Array(tensors.length * c * h * w);
  tensors.forEach((t, i) => data.set(t.data, i * c * h * w));
  return { dims: [tensors.length, c, h, w], data };
}
