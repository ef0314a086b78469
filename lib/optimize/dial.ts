// Root-finding on "measured age of the render" as a function of the age dial, one frame at a
// time but stepped in lockstep so every iteration is one batch over all frames. The function is
// only observed (no gradients) and is a staircase in practice (8-bit renders, a regressor that
// saturates near 0 and 100), so: secant steps until the target is bracketed, then Illinois
// regula falsi (guaranteed to shrink the bracket), stopping within tolerance, on a plateau,
// or at the edge of the allowed dial range.

/** One measured dial. */
export interface DialPoint {
  dial: number;
  age: number;
}

/** Secant steps are assumed to have this slope (years measured per year dialled) until two points give a better one. */
const PRIOR_SLOPE = 1;
/** Slopes are clamped to this range: a staircase gives wild local slopes. */
const SLOPE_RANGE: [number, number] = [0.2, 5];
/** Largest single secant step, years. */
const MAX_STEP = 50;
/** A bracket narrower than this (years of dial) is finished. */
const MIN_BRACKET = 0.02;
/** Measured ages closer than this count as "did not move" (a plateau). */
const FLAT = 1e-3;

/** Root-finder state of one frame. */
export class DialSearch {
  readonly points: DialPoint[] = [];
  private finished = false;
  private lo: (DialPoint & { scale: number }) | undefined;
  private hi: (DialPoint & { scale: number }) | undefined;
  private lastSide: 'lo' | 'hi' | undefined;

  /**
   * @param target age to reach, years
   * @param range dials allowed [min, max]
   * @param tolerance stop when the measured age is this close, years
   */
  constructor(
    readonly target: number,
    private readonly range: readonly [number, number],
    private readonly tolerance: number,
  ) {}

  /** Whether the search has stopped. */
  get done(): boolean {
    return this.finished;
  }

  /** Records the measured age of a dial. */
  add(dial: number, age: number): void {
    const point = { dial, age };
    this.points.push(point);
    const f = age - this.target;
    if (Math.abs(f) <= this.tolerance) {
      this.finished = true;
      return;
    }
    // Keep the bracket's ends as the latest points on each side; Illinois halves the weight
    // of an end that survives twice in a row, so false position cannot stall on one side.
    if (f < 0) {
      if (this.lastSide === 'lo' && this.hi) this.hi.scale /= 2;
      this.lo = { ...point, scale: 1 };
      this.lastSide = 'lo';
    } else {
      if (this.lastSide === 'hi' && this.lo) this.lo.scale /= 2;
      this.hi = { ...point, scale: 1 };
      this.lastSide = 'hi';
    }
    if (this.lo && this.hi && Math.abs(this.hi.dial - this.lo.dial) < MIN_BRACKET) this.finished = true;
  }

  /**
   * Measured years per year of dial near the root: across the bracket when there is one,
   * else between the last two points; 0 on a plateau; undefined from a single point.
   */
  slope(): number | undefined {
    let a: DialPoint | undefined;
    let b: DialPoint | undefined;
    if (this.lo && this.hi) [a, b] = [this.lo, this.hi];
    else if (this.points.length >= 2) [a, b] = this.points.slice(-2);
    if (!a || !b || a.dial === b.dial) return undefined;
    return Math.min(SLOPE_RANGE[1], Math.max(0, (b.age - a.age) / (b.dial - a.dial)));
  }

  /** The next dial to measure, or undefined when the search is over. */
  next(): number | undefined {
    if (this.finished) return undefined;
    const [min, max] = this.range;
    const clamp = (d: number): number => Math.min(max, Math.max(min, d));
    if (this.points.length === 0) return clamp(this.target);
    let dial: number;
    if (this.lo && this.hi) {
      const fLo = (this.lo.age - this.target) * this.lo.scale;
      const fHi = (this.hi.age - this.target) * this.hi.scale;
      dial = this.lo.dial - (fLo * (this.hi.dial - this.lo.dial)) / (fHi - fLo);
      // Keep strictly inside the bracket, a little away from its ends.
      const a = Math.min(this.lo.dial, this.hi.dial);
      const b = Math.max(this.lo.dial, this.hi.dial);
      const margin = (b - a) * 0.01;
      if (!(dial > a + margin && dial < b - margin)) dial = (a + b) / 2;
    } else {
      const last = this.points[this.points.length - 1];
      let slope = PRIOR_SLOPE;
      if (this.points.length >= 2) {
        const prev = this.points[this.points.length - 2];
        if (Math.abs(last.age - prev.age) < FLAT) {
          // The age did not move: a plateau (e.g. the regressor saturating), nothing left to gain.
          this.finished = true;
          return undefined;
        }
        const measured = (last.age - prev.age) / (last.dial - prev.dial);
        if (measured > 0) slope = Math.min(SLOPE_RANGE[1], Math.max(SLOPE_RANGE[0], measured));
      }
      const step = Math.max(-MAX_STEP, Math.min(MAX_STEP, (this.target - last.age) / slope));
      dial = clamp(last.dial + step);
    }
    if (this.points.some((p) => Math.abs(p.dial - dial) < 1e-9)) {
      // Pinned at the edge of the range (or nowhere new to go): stop.
      this.finished = true;
      return undefined;
    }
    return dial;
  }
}
