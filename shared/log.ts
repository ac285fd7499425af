/**
 * Structured logs in Cloud Logging's shape: one JSON object per line, with
 * `severity`, `message` and, when a trace header came in,
 * `logging.googleapis.com/trace`. Values that look like tokens, and every
 * configured secret, are masked before a line is written, as a last line of
 * defence: callers already never pass them.
 */

export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR' | 'CRITICAL';

export type LogFields = Record<string, unknown>;

export interface Logger {
  log(severity: Severity, message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Where lines go; default: stdout. */
  write?: (line: string) => void;
  /** Secret values to mask wherever they appear. */
  secrets?: Iterable<string>;
  /** Lowest severity written; default INFO (the runtime passes `settings.logLevel`, from RELAY_LOG_LEVEL). */
  level?: Severity;
}

const ORDER: Severity[] = ['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL'];
// A JWT (three base64url parts, the first starting like a JSON object) anywhere in a string.
const JWT = /eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Past this many characters waiting, lines are written at once rather than at the end of the turn. */
const FLUSH_AT = 64 * 1024;
let waiting: string[] = [];
let waitingChars = 0;
let flushScheduled = false;

/** Writes every line waiting, in the order they were logged, with one `write`. */
export function flushStdoutLines(): void {
  flushScheduled = false;
  if (waiting.length === 0) return;
  const text = waiting.join('\n') + '\n';
  waiting = [];
  waitingChars = 0;
  process.stdout.write(text);
}

/**
 * The default sink: lines logged during one turn of the event loop go to
 * stdout together, with one write at the end of the turn (`setImmediate`),
 * or at once past {@link FLUSH_AT} characters, and before the process exits.
 * One write system call per line cost more than the rest of logging a
 * request, and the line no longer waits in front of the answer.
 */
function stdoutLines(line: string): void {
  waiting.push(line);
  waitingChars += line.length;
  if (waitingChars >= FLUSH_AT) return flushStdoutLines();
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flushStdoutLines);
}
process.on('exit', flushStdoutLines);

/** Creates a logger; see {@link LoggerOptions} for defaults. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? stdoutLines;
  const minimum = ORDER.indexOf(options.level ?? 'INFO');
  const secrets = [...(options.secrets ?? [])].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  const secretPattern = secrets.length > 0 ? new RegExp(secrets.map(escapeRegExp).join('|'), 'g') : undefined;

  const scrub = (text: string): string => {
    // Every token the pattern matches contains "eyJ": a line without it is not run through the regex.
    let out = text.includes('eyJ') ? text.replace(JWT, '[redacted-token]') : text;
    if (secretPattern) out = out.replace(secretPattern, '[redacted-secret]');
    return out;
  };

  const sink: Sink = { write, minimum, scrub };
  return new JsonLogger(sink, undefined, {});
}

/** What every logger of one {@link createLogger} call shares. */
interface Sink {
  write: (line: string) => void;
  minimum: number;
  scrub: (text: string) => string;
}

/**
 * One logger: its own fields over its parent's. A child is one small object
 * whose fields are merged with its parent's only when it first writes a line:
 * the relay makes a child per request and per target, and most never write
 * (a class, so its methods are shared rather than closures made per child).
 */
class JsonLogger implements Logger {
  private merged: LogFields | undefined;

  constructor(
    private readonly sink: Sink,
    private readonly parent: JsonLogger | undefined,
    private readonly own: LogFields,
  ) {}

  /** Every field this logger adds, its own over its parent's (as `{ ...parent, ...own }`), worked out once. */
  private base(): LogFields {
    if (this.merged) return this.merged;
    const above = this.parent?.base();
    this.merged = above && Object.keys(above).length > 0 ? { ...above, ...this.own } : this.own;
    return this.merged;
  }

  log(severity: Severity, message: string, fields: LogFields = {}): void {
    const { sink } = this;
    if (ORDER.indexOf(severity) < sink.minimum) return;
    let line: string;
    try {
      line = JSON.stringify({ severity, message, ...this.base(), ...fields, time: new Date().toISOString() }, replaceErrors);
    } catch {
      line = JSON.stringify({ severity, message, time: new Date().toISOString(), logError: 'fields could not be serialised' });
    }
    sink.write(sink.scrub(line));
  }

  info(message: string, fields?: LogFields): void {
    this.log('INFO', message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.log('WARNING', message, fields);
  }

  error(message: string, fields?: LogFields): void {
    this.log('ERROR', message, fields);
  }

  /** A logger adding `fields` (read when it first writes: pass a fresh object, as every caller does). */
  child(fields: LogFields): Logger {
    return new JsonLogger(this.sink, this, fields);
  }
}

// Errors log as name, code and message: never a stack, which may quote request data.
function replaceErrors(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    const cause = value.cause instanceof Error ? `${value.cause.name}: ${value.cause.message}` : undefined;
    return { name: value.name, message: value.message, ...(code === undefined ? {} : { code }), ...(cause ? { cause } : {}) };
  }
  return value;
}

/** A logger that drops everything; handy default for tests of the pure core. */
export const silentLogger: Logger = createLogger({ write: () => {} });

/**
 * Trace fields for Cloud Logging from `traceparent` or `X-Cloud-Trace-Context`.
 * With a project id the trace is the full resource name Cloud Logging links on.
 */
export function traceFields(headers: Readonly<Record<string, string | undefined>>, projectId?: string): LogFields {
  let traceId: string | undefined;
  let spanId: string | undefined;
  const traceparent = headers['traceparent'];
  const match = traceparent ? /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(traceparent.trim()) : null;
  if (match) {
    [, traceId, spanId] = match;
  } else {
    const cloud = headers['x-cloud-trace-context'];
    const m = cloud ? /^([0-9a-fA-F]{32})(?:\/(\d+))?/.exec(cloud.trim()) : null;
    if (m) [, traceId, spanId] = m;
  }
  if (!traceId) return {};
  return {
    'logging.googleapis.com/trace': projectId ? `projects/${projectId}/traces/${traceId}` : traceId,
    ...(spanId ? { 'logging.googleapis.com/spanId': spanId } : {}),
  };
}
