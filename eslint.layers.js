// The layer rule of docs/architecture.md: a folder of src/ may import only the folders below it.
//
// Written here rather than taken from a plugin: the rule is one table and twenty lines, it must
// resolve the `.js` specifiers of TypeScript's NodeNext imports to folders, and the dedicated
// tool (dependency-cruiser) needs Node 22 in its current major.
import path from 'node:path';

const below = (...layers) => layers;
const foundation = ['util', 'domain', 'config', 'net', 'raft', 'metrics'];
const storage = ['storage/common', 'storage/replica', 'storage/client'];
const lowerThanTools = [...foundation, ...storage, 'faults', 'portal', 'dashboard', 'modes', 'client'];

/** Each layer and the layers it may import (its own folder is always allowed). */
export const LAYERS = {
  util: below(),
  domain: below('util'),
  config: below('util', 'domain'),
  net: below('util'),
  raft: below('util'),
  metrics: below('util'),
  'storage/common': below(...foundation),
  'storage/replica': below(...foundation, 'storage/common'),
  'storage/client': below(...foundation, 'storage/common'),
  faults: below('util', 'raft'),
  portal: below('util', 'domain', 'config', 'net', 'metrics'),
  dashboard: below(...foundation, 'storage/common', 'storage/client'),
  modes: below(...foundation, 'storage/common', 'storage/client', 'faults', 'portal', 'dashboard'),
  client: below('util', 'domain', 'config', 'net', 'portal'),
  lincheck: below('util'),
  sim: below('util', 'domain', 'config', 'raft', 'lincheck'),
  bench: below(...lowerThanTools),
  chaos: below(...lowerThanTools, 'lincheck'),
  cli: below(...lowerThanTools, 'lincheck', 'bench', 'chaos', 'sim'),
};

const SRC = path.resolve(import.meta.dirname, 'src');

/** The layer a file of src/ belongs to: its first folder, or its first two under storage/. */
export function layerOf(file) {
  const relative = path.relative(SRC, file);
  if (relative.startsWith('..')) return undefined;
  const parts = relative.split(path.sep);
  if (parts.length < 2) return undefined;
  return parts[0] === 'storage' ? `storage/${parts[1]}` : parts[0];
}

const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports point down the layers of docs/architecture.md' },
    schema: [],
    messages: {
      upward: "{{from}} may not import {{to}} ('{{spec}}'): imports point down the layers (docs/architecture.md). {{from}} may import: {{allowed}}.",
      unknown: "src/{{from}} is not a layer of docs/architecture.md: add it to eslint.layers.js and the picture there.",
    },
  },
  create(context) {
    const from = layerOf(context.filename);
    if (from === undefined) return {};
    const allowed = LAYERS[from];
    const check = (node) => {
      const spec = node.source?.value;
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const to = layerOf(path.resolve(path.dirname(context.filename), spec));
      if (to === undefined || to === from) return;
      if (allowed === undefined) {
        context.report({ node, messageId: 'unknown', data: { from } });
      } else if (!allowed.includes(to)) {
        context.report({ node, messageId: 'upward', data: { from, to, spec, allowed: allowed.join(', ') || 'nothing else' } });
      }
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};

/**
 * `!` only on an indexed read (`items[i]!`), where the index is bounded by the code around it and
 * TypeScript's noUncheckedIndexedAccess cannot see it; a lookup that can miss (a map entry, an
 * optional field, a match) is stated with defined() from src/util/assert.ts, which names what is
 * missing when the guarantee breaks instead of failing later on `undefined`.
 */
const indexedNonNullRule = {
  meta: {
    type: 'problem',
    docs: { description: 'non-null assertions only on indexed reads; defined() elsewhere' },
    schema: [],
    messages: { lookup: "Use defined(value, 'what it is') from src/util/assert.ts instead of `!` on anything but an indexed read." },
  },
  create(context) {
    return {
      TSNonNullExpression(node) {
        const target = node.expression;
        if (target.type === 'MemberExpression' && target.computed) return;
        context.report({ node, messageId: 'lookup' });
      },
    };
  },
};

export const layersPlugin = { rules: { layers: layersRule, 'indexed-non-null': indexedNonNullRule } };
