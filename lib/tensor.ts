/** A float32 tensor as it crosses the worker boundary: plain data, no onnxruntime objects. */
export interface Tensor {
  dims: number[];
  data: Float32Array;
}

/** Named tensors, as fed to or returned by a model. */
export type TensorMap = Record<string, Tensor>;

/** Number of elements a shape holds. */
export function sizeOf(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Makes a tensor, checking that the data fits the shape.
 * @throws {RangeError} when data.length differs from the product of dims
 */
export function tensor(dims: number[], data: Float32Array = new Float32Array(sizeOf(dims))): Tensor {
  if (data.length !== sizeOf(dims)) {
    throw new RangeError(`tensor data holds ${data.length} values but shape [${dims.join(',')}] needs ${sizeOf(dims)}`);
  }
  return { dims, data };
}
