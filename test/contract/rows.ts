/**
 * A test title that names the rows of docs/spec.md it checks: `rows('R-CLIENT-2', 'refuses ...')`
 * gives "refuses ... [R-CLIENT-2]". test/contract/spec-rows.test.ts reads these citations back.
 */
export function rows(...idsThenTitle: string[]): string {
  const title = idsThenTitle[idsThenTitle.length - 1]!;
  const ids = idsThenTitle.slice(0, -1);
  if (ids.length === 0 || !ids.every((id) => /^R-[A-Z]+-\d+$/.test(id))) throw new Error(`rows(): give row IDs such as R-ORDER-3 before the title "${title}"`);
  return `${title} [${ids.join(', ')}]`;
}
