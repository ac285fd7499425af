/**
 * A gcloud invocation as data (argv without the leading `gcloud`), and how
 * it is printed: one line a shell runs exactly as shown.
 */

export type Command = readonly string[];

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word for a POSIX shell: as-is when safe, else in single quotes. */
export function shellQuote(word: string): string {
  if (word !== '' && SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `gcloud a b --c=d ...` as one shell line. Flags with a value are printed as `--flag=value`, quoted as one word. */
export function renderCommand(command: Command): string {
  return ['gcloud', ...command].map(shellQuote).join(' ');
}

/** The `gcloud x y z` part of a command, for progress lines. */
export function commandName(command: Command): string {
  const words: string[] = [];
  for (const word of command) {
    if (word.startsWith('-')) break;
    words.push(word);
    if (words.length === 4) break;
  }
  return ['gcloud', ...words].join(' ');
}
