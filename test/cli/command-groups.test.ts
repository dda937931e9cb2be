import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMAND_GROUPS } from '../../src/cli/command-groups.js';

describe('command groups', () => {
  it('each group registers exactly the commands it claims, and no two groups claim one', async () => {
    const claimed = COMMAND_GROUPS.flatMap((g) => g.commands);
    expect(new Set(claimed).size).toBe(claimed.length);
    for (const group of COMMAND_GROUPS) {
      const program = new Command('ecom');
      (await group.load())(program);
      expect(program.commands.map((c) => c.name()).sort()).toEqual([...group.commands].sort());
    }
  });
});
