import type { GrpcServer } from '../net/grpc/server.js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';

/**
 * Server reflection for the API. @grpc/reflection 1.0 names symbols of a file without a
 * `package` line with a leading dot (".AdminPortal"), so tools would neither list nor find
 * "AdminPortal". The original proto has no package line, so the names are corrected here;
 * the indexes touched are the implementation's, checked to exist so a library change fails
 * loudly instead of silently serving wrong names.
 */
interface ReflectionIndex {
  services: Record<string, unknown>;
  symbols: Record<string, unknown>;
}

function stripLeadingDots(index: Record<string, unknown>): void {
  for (const name of Object.keys(index)) {
    if (name.startsWith('.')) {
      index[name.slice(1)] = index[name];
      delete index[name];
    }
  }
}

export function addReflection(server: GrpcServer, definition: PackageDefinition): void {
  const reflection = new ReflectionService(definition);
  const versions = reflection as unknown as Record<'v1' | 'v1Alpha', Partial<ReflectionIndex> | undefined>;
  for (const implementation of [versions.v1 ?? {}, versions.v1Alpha ?? {}]) {
    if (typeof implementation.services !== 'object' || typeof implementation.symbols !== 'object') {
      throw new Error('@grpc/reflection changed its internals: review src/portal/reflection.ts');
    }
    stripLeadingDots(implementation.services);
    stripLeadingDots(implementation.symbols);
  }
  reflection.addToServer(server);
}
