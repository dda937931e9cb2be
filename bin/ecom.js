#!/usr/bin/env node
// The `ecom` command. It runs the JavaScript that `npm install` compiles into dist/ (the
// `prepare` script), which starts in a fraction of the time the TypeScript sources take. When
// a source file is newer than that build (someone is editing), or ECOM_FROM_SOURCE=1, it runs
// the sources through tsx instead, so an edit never runs stale code and a clone without a
// build still works.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = `${root}dist/cli/main.js`;

/** The newest modification time of any file under dir, in ms. */
function newestIn(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    newest = Math.max(newest, entry.isDirectory() ? newestIn(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function buildIsCurrent() {
  if (process.env.ECOM_FROM_SOURCE === '1' || !existsSync(built)) return false;
  return newestIn(`${root}src`) <= statSync(built).mtimeMs;
}

if (buildIsCurrent()) {
  await import(built);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
