// Phase 1, dial: root-find measured age vs. dial for every frame at once, SAM's codes being
// the first point.
import { DialSearch } from './dial';
import { GROUPS, type Candidate, type Evaluation } from './evaluate';
import type { PathState } from './state';

/** What the dial phase found: the best evaluation per frame and each frame's search (its slope). */
export interface DialResult {
  found: Evaluation[];
  searches: DialSearch[];
}

/** Runs the dial phase and keeps its path when it is better. */
export async function dialPhase(state: PathState): Promise<DialResult> {
  const { options, ages, K } = state;
  const { budget } = options;
  const ones = GROUPS.map(() => 1);
  // With a small budget the root-finder is the best use of it; otherwise it gets up to 8 tries a frame.
  const dialCap = budget < 12 ? budget : Math.min(8, Math.ceil(budget * 0.3));
  const searches = ages.map((t) => new DialSearch(t, options.dialRange, options.ageTolerance));
  state.before.forEach((e, k) => searches[k].add(e.dial, e.age));
  const tries = new Array<number>(K).fill(1);
  const found = [...state.before];
  while (true) {
    const wanted: Candidate[] = [];
    searches.forEach((s, k) => {
      if (tries[k] >= dialCap) return;
      const dial = s.next();
      if (dial !== undefined) wanted.push({ frame: k, dial, weights: ones });
    });
    if (wanted.length === 0) break;
    state.progress('dial');
    for (const e of await state.evaluator.evaluate(wanted)) {
      tries[e.frame] += 1;
      searches[e.frame].add(e.dial, e.age);
      if (state.ownCost(e) < state.ownCost(found[e.frame])) found[e.frame] = e;
    }
  }
  state.keepIfBetter(found);
  return { found, searches };
}
