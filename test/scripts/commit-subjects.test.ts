import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '../../scripts/commit-subjects.js');
const folder = mkdtempSync(join(tmpdir(), 'ecom-commit-msg-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** Runs the commit-msg check on a message as git hands it to the hook: a file. */
function check(message: string): { status: number | null; stderr: string } {
  const file = join(folder, 'COMMIT_EDITMSG');
  writeFileSync(file, message);
  const run = spawnSync(process.execPath, [SCRIPT, '--message-file', file], { encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
}

describe('the commit-msg hook (scripts/commit-subjects.js --message-file)', () => {
  it('takes a subject of 72 characters and refuses one of 73, saying why', () => {
    expect(check(`${'a'.repeat(72)}\n\nThe why, in a body as long as it needs to be, which is not limited at all.\n`).status).toBe(0);
    const refused = check(`${'a'.repeat(73)}\n`);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/73 characters, over the 72 allowed/);
  });

  it("reads the subject after git's comment lines, as an editor leaves them", () => {
    expect(check(`# Please enter the commit message\n${'b'.repeat(73)}\n`).status).toBe(1);
    expect(check(`# ${'c'.repeat(100)}\nA short subject\n`).status).toBe(0);
    expect(check(`\n\n${'d'.repeat(73)}\n`).status, 'blank lines before the subject, which git drops').toBe(1);
  });
});
