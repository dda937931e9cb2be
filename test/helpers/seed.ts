/**
 * The seed of a randomised test: ECOM_SEED replays a failure, otherwise a fresh one is drawn.
 * It is printed so that any failing run names the command that replays it.
 */
export function testSeed(name: string): number {
  const fromEnv = process.env.ECOM_SEED;
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isSafeInteger(seed)) throw new Error(`ECOM_SEED="${fromEnv}" is not an integer`);
  console.log(`${name}: seed ${seed} (replay: ECOM_SEED=${seed} npx vitest run -t "${name}")`);
  return seed;
}
