import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { COURSE_PACKAGE } from './api-codec.js';

/**
 * The API definition, loaded from the original's `proto/api.proto` (no package line) and,
 * derived from the same file, the course's variant under `package project;`. Both are served
 * so clients generated from either proto work; deriving the second keeps one source of truth.
 */
export const API_PROTO_PATH = fileURLToPath(new URL('../../proto/api.proto', import.meta.url));

export { COURSE_PACKAGE };

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: false,
};

interface FileDescriptor {
  name: string;
}

function fileDescriptor(source: string, fileName: string): FileDescriptor {
  const root = new protobuf.Root();
  protobuf.parse(source, root, { keepCase: true });
  const set = (root as unknown as { toDescriptor(syntax: string): { file: FileDescriptor[] } }).toDescriptor('proto3');
  const file = set.file[0];
  if (file === undefined || set.file.length !== 1) throw new Error(`${API_PROTO_PATH}: expected exactly one file descriptor`);
  file.name = fileName;
  return file;
}

function withPackage(source: string, pkg: string): string {
  const syntaxLine = /^syntax\s*=\s*"proto3"\s*;[^\n]*\n/m;
  if (!syntaxLine.test(source)) throw new Error(`${API_PROTO_PATH}: no 'syntax = "proto3";' line to put the package after`);
  return source.replace(syntaxLine, (line) => `${line}\npackage ${pkg};\n`);
}

let cached: protoLoader.PackageDefinition | undefined;

/** One package definition holding `AdminPortal`, `OrderPortal` and `project.AdminPortal`, `project.OrderPortal`. */
export function apiPackageDefinition(): protoLoader.PackageDefinition {
  if (cached !== undefined) return cached;
  const source = readFileSync(API_PROTO_PATH, 'utf8');
  const files = [fileDescriptor(source, 'api.proto'), fileDescriptor(withPackage(source, COURSE_PACKAGE), `${COURSE_PACKAGE}/api.proto`)];
  const set = descriptor.FileDescriptorSet.create({ file: files });
  const bytes = descriptor.FileDescriptorSet.encode(set).finish();
  cached = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(bytes), LOADER_OPTIONS);
  return cached;
}

/** The fully qualified service names served, original first: `AdminPortal`, `project.AdminPortal`, ... */
export const PORTAL_SERVICES = {
  admin: ['AdminPortal', `${COURSE_PACKAGE}.AdminPortal`],
  order: ['OrderPortal', `${COURSE_PACKAGE}.OrderPortal`],
} as const;
