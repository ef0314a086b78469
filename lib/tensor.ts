/** A float32 tensor as it crosses the worker boundary: plain data, no onnxruntime objects. */
export interface Tensor {
  dims: number[];
  data: Float32Array;
}

/** Named tensors, as fed to or returned by a model. */
export type TensorMap = Record<string, Tensor>;
