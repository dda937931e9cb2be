#!/usr/bin/env node
// The `ecom` command. It runs the TypeScript sources through tsx so a clone works right after
// `npm install`, with no separate build step to forget.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
