/** Limits that keep a server healthy (docs/spec.md, IDs and limits). Exceeding any of them is a 400 with a clear text. */
export const LIMITS = {
  idMaxChars: 128,
  dataMaxBytes: 64 * 1024,
  jsonMaxDepth: 32,
  orderMaxItems: 1000,
  nameMaxChars: 1000,
  quantityMax: Number.MAX_SAFE_INTEGER,
} as const;
