import { LIMITS } from './limits.js';
import { message, type Message } from './messages.js';

/** The ID that Retrieve answers with when nothing was found; never a valid ID. */
export const NOT_FOUND_ID = '0';

const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `id` cannot name an object, or undefined when it can. */
export function idProblem(id: string): Message | undefined {
  if (id.length === 0) return message('detailIdEmpty');
  if (id.length > LIMITS.idMaxChars) return message('detailIdTooLong', { max: LIMITS.idMaxChars });
  if (CONTROL_CHARS.test(id)) return message('detailIdControl');
  if (id === NOT_FOUND_ID) return message('detailIdZero');
  return undefined;
}

export function isValidId(id: string): boolean {
  return idProblem(id) === undefined;
}
