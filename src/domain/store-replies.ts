import type { Reply } from './commands.js';
import { message } from './messages.js';

/**
 * The two 503 answers of every mode when the store could not complete a command. Which one is
 * given is a promise to the client, checked by the chaos suite: "nothing was changed" only when
 * the command certainly had no effect, "may have been applied" whenever it might have had one.
 */
export const NOT_APPLIED = { code: 503, message: message('storeUnavailableNotApplied') } as const satisfies Reply;
export const MAYBE_APPLIED = { code: 503, message: message('storeUnavailableMaybeApplied') } as const satisfies Reply;
