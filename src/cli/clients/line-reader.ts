import { createInterface } from 'node:readline';

/**
 * Reads answers line by line from a terminal or a pipe alike. Lines are buffered by the
 * async iterator, so piped input that arrives before a prompt is asked is not lost (which
 * `readline.question` would do).
 */
export class LineReader {
  private readonly lines: AsyncIterator<string>;
  private readonly rl;

  constructor(
    input: NodeJS.ReadableStream = process.stdin,
    private readonly output: NodeJS.WritableStream = process.stdout,
  ) {
    const terminal = (input as { isTTY?: boolean }).isTTY === true;
    this.rl = createInterface({ input, output: terminal ? output : undefined, terminal });
    // Ctrl-C at a prompt ends the session like Ctrl-D instead of pausing the input.
    this.rl.on('SIGINT', () => this.rl.close());
    this.lines = this.rl[Symbol.asyncIterator]();
  }

  /** Prints the prompt and returns the next line without surrounding spaces, or undefined at end of input. */
  async ask(prompt: string): Promise<string | undefined> {
    this.output.write(prompt);
    const next = await this.lines.next();
    if (next.done === true) {
      this.output.write('\n');
      return undefined;
    }
    return next.value.trim();
  }

  close(): void {
    this.rl.close();
  }
}

/** Thrown when the user ends the input (Ctrl-D, Ctrl-C, end of a pipe). */
export class EndOfInput extends Error {
  override readonly name = 'EndOfInput';
}

/** Asks until a non-empty answer comes; throws EndOfInput at the end of input. */
export async function askRequired(reader: LineReader, prompt: string): Promise<string> {
  for (;;) {
    const answer = await reader.ask(prompt);
    if (answer === undefined) throw new EndOfInput();
    if (answer !== '') return answer;
  }
}
