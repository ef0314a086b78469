/**
 * Skips the running test or suite and says why in the test output, so a skipped check is never
 * mistaken for a passed one.
 * @param reason what is missing here, and how to get it
 */
export function skipBecause(ctx: Mocha.Context, reason: string): never {
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}
