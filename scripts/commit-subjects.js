// Readable history (issue #15 item 5): every commit subject after HISTORY_RULE_FROM is at most
// 72 characters and says what changed; the why goes in the body. Older commits are left as
// they are: main is never rewritten.
import { execFileSync } from 'node:child_process';

const HISTORY_RULE_FROM = '22a8213';
const MAX_SUBJECT = 72;
/** Landed on main over the limit before the check caught it; main is never rewritten, so they stay. */
const LANDED_OVER_THE_LIMIT = new Set(['db9c3d36fb6354ceaf9ec185a6d1945290f9b67c', 'c4e55fda2eeb8552fa9266dbc5a5285616515a08', 'a95a0da6ab9d8246e1f3d65cf0b746662fc10bc2', '5ff341fa5f4d110e7afd256e481ca4204d12e880', 'a575fb6772b055ce142945639c1a4954b38eca59', 'a7e7550900b1300473565bd44f90da64721f0824']);

// As the commit-msg hook (.githooks/commit-msg, which `npm install` enables): checks the subject
// of the commit being made, so an over-long one is refused before it exists instead of found later.
const messageFile = process.argv[2] === '--message-file' ? process.argv[3] : undefined;
if (messageFile !== undefined) {
  const { readFileSync } = await import('node:fs');
  const subject = readFileSync(messageFile, 'utf8').split('\n').find((line) => line.trim() !== '' && !line.startsWith('#')) ?? '';
  if (subject.length > MAX_SUBJECT) {
    console.error(`commit refused: its subject has ${subject.length} characters, over the ${MAX_SUBJECT} allowed; say what changed in fewer words and put the why in the body:\n  ${subject}`);
    process.exit(1);
  }
  process.exit(0);
}

function git(...args) {
  return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

let log;
try {
  git('cat-file', '-e', `${HISTORY_RULE_FROM}^{commit}`);
  log = git('log', '--format=%h%x09%s', `${HISTORY_RULE_FROM}..HEAD`);
} catch {
  console.log('commit subjects: no git history here (or a shallow clone); not checked');
  process.exit(0);
}
const long = log
  .split('\n')
  .filter((line) => line !== '')
  .map((line) => line.split('\t'))
  .filter(([hash, subject]) => subject.length > MAX_SUBJECT && ![...LANDED_OVER_THE_LIMIT].some((full) => full.startsWith(hash)));
if (long.length > 0) {
  console.error(`commit subjects over ${MAX_SUBJECT} characters (shorten with git commit --amend or an interactive rebase before landing; put the why in the body):`);
  for (const [hash, subject] of long) console.error(`  ${hash} (${subject.length}) ${subject}`);
  process.exit(1);
}
