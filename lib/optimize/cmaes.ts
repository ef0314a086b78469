// A small, exact CMA-ES (Hansen's (mu/mu_w, lambda) strategy with rank-one and rank-mu
// updates and cumulative step-size adaptation), for the handful of parameters of one frame.
// onnxruntime gives no gradients, so we search with samples; CMA-ES learns the scaling and
// correlations of the parameters (dial vs. blend weights) from the population it evaluates.
import { SeededRandom } from '../sam/random';

/** Settings of one search. */
export interface CmaOptions {
  /** Start point. */
  mean: number[];
  /** Start step size (in the units of the parameters). */
  sigma: number;
  /** Samples per generation; default 4 + floor(3 ln n). */
  lambda?: number;
  seed: number;
}

/** Default population size for n parameters. */
export function defaultLambda(n: number): number {
  return 4 + Math.floor(3 * Math.log(n));
}

/**
 * CMA-ES state: `ask` a population, evaluate it (in one batch), `tell` the costs.
 * Deterministic for a given seed.
 * @example
 *   const es = new Cma({ mean: [0, 0], sigma: 0.3, seed: 1 });
 *   for (let g = 0; g < 50; g++) { const xs = es.ask(); es.tell(xs, xs.map(f)); }
 */
export class Cma {
  readonly n: number;
  readonly lambda: number;
  readonly mu: number;
  private readonly weights: number[];
  private readonly mueff: number;
  private readonly cc: number;
  private readonly cs: number;
  private readonly c1: number;
  private readonly cmu: number;
  private readonly damps: number;
  private readonly chiN: number;
  private readonly random: SeededRandom;
  mean: number[];
  sigma: number;
  private C: number[][];
  private B: number[][];
  private D: number[];
  private pc: number[];
  private ps: number[];
  private generation = 0;

  constructor(options: CmaOptions) {
    const n = options.mean.length;
    this.n = n;
    this.lambda = Math.max(2, options.lambda ?? defaultLambda(n));
    this.mu = Math.floor(this.lambda / 2);
    const raw = Array.from({ length: this.mu }, (_, i) => Math.log(this.mu + 0.5) - Math.log(i + 1));
    const sum = raw.reduce((a, b) => a + b, 0);
    this.weights = raw.map((w) => w / sum);
    this.mueff = 1 / this.weights.reduce((a, w) => a + w * w, 0);
    this.cc = (4 + this.mueff / n) / (n + 4 + (2 * this.mueff) / n);
    this.cs = (this.mueff + 2) / (n + this.mueff + 5);
    this.c1 = 2 / ((n + 1.3) ** 2 + this.mueff);
    this.cmu = Math.min(1 - this.c1, (2 * (this.mueff - 2 + 1 / this.mueff)) / ((n + 2) ** 2 + this.mueff));
    this.damps = 1 + 2 * Math.max(0, Math.sqrt((this.mueff - 1) / (n + 1)) - 1) + this.cs;
    this.chiN = Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));
    this.random = new SeededRandom(options.seed);
    this.mean = [...options.mean];
    this.sigma = options.sigma;
    this.C = identity(n);
    this.B = identity(n);
    this.D = new Array<number>(n).fill(1);
    this.pc = new Array<number>(n).fill(0);
    this.ps = new Array<number>(n).fill(0);
  }

  /** Largest standard deviation of the search distribution along any axis. */
  get spread(): number {
    return this.sigma * Math.sqrt(Math.max(...this.C.map((row, i) => row[i])));
  }

  /** Samples one population: lambda points `mean + sigma * B D z`. */
  ask(): number[][] {
    return Array.from({ length: this.lambda }, () => {
      const z = Array.from({ length: this.n }, () => this.random.normal());
      const y = this.B.map((row) => row.reduce((acc, b, j) => acc + b * this.D[j] * z[j], 0));
      return this.mean.map((m, i) => m + this.sigma * y[i]);
    });
  }

  /**
   * Updates the distribution from an evaluated population.
   * @param xs the points `ask` returned (lambda of them)
   * @param costs lower is better
   */
  tell(xs: number[][], costs: number[]): void {
    const { n, mu, weights } = this;
    const order = costs.map((c, i) => [c, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
    const old = this.mean;
    const selected = order.slice(0, mu).map((i) => xs[i]);
    this.mean = Array.from({ length: n }, (_, j) => selected.reduce((acc, x, i) => acc + weights[i] * x[j], 0));
    const step = this.mean.map((m, j) => (m - old[j]) / this.sigma);
    // C^(-1/2) * step, through the eigenbasis.
    const bt = this.B[0].map((_, k) => this.B.reduce((acc, row, i) => acc + row[k] * step[i], 0) / this.D[k]);
    const invSqrtStep = this.B.map((row) => row.reduce((acc, b, k) => acc + b * bt[k], 0));
    const csn = Math.sqrt(this.cs * (2 - this.cs) * this.mueff);
    this.ps = this.ps.map((p, i) => (1 - this.cs) * p + csn * invSqrtStep[i]);
    this.generation += 1;
    const psNorm = Math.hypot(...this.ps);
    const hsig = psNorm / Math.sqrt(1 - (1 - this.cs) ** (2 * this.generation)) / this.chiN < 1.4 + 2 / (n + 1) ? 1 : 0;
    const ccn = Math.sqrt(this.cc * (2 - this.cc) * this.mueff);
    this.pc = this.pc.map((p, i) => (1 - this.cc) * p + hsig * ccn * step[i]);
    const artmp = selected.map((x) => x.map((v, j) => (v - old[j]) / this.sigma));
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        let rankMu = 0;
        for (let k = 0; k < mu; k++) rankMu += weights[k] * artmp[k][i] * artmp[k][j];
        const value =
          (1 - this.c1 - this.cmu) * this.C[i][j] +
          this.c1 * (this.pc[i] * this.pc[j] + (1 - hsig) * this.cc * (2 - this.cc) * this.C[i][j]) +
          this.cmu * rankMu;
        this.C[i][j] = value;
        this.C[j][i] = value;
      }
    }
    this.sigma *= Math.exp((this.cs / this.damps) * (psNorm / this.chiN - 1));
    const { vectors, values } = symmetricEigen(this.C);
    this.B = vectors;
    this.D = values.map((v) => Math.sqrt(Math.max(v, 1e-20)));
  }
}

function identity(n: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
}

/**
 * Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations.
 * @returns columns of `vectors` are the eigenvectors, `values` the eigenvalues
 */
export function symmetricEigen(matrix: number[][]): { vectors: number[][]; values: number[] } {
  const n = matrix.length;
  const a = matrix.map((row) => [...row]);
  const v = identity(n);
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i][j] * a[i][j];
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { vectors: v, values: a.map((row, i) => row[i]) };
}
