/** A count and a rate on stderr while people wait: only on a terminal, only once the wait is noticeable. */

export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/** Progress is for a person watching a terminal; files, pipes and logs get none (nor --quiet). */
export function progressWanted(stream: { readonly isTTY?: boolean }, quiet: boolean): boolean {
  return stream.isTTY === true && !quiet;
}

export interface Progress {
  /** Counts more records; cheap enough to call per record. */
  add(count: number): void;
  /** Stops; when progress was shown, replaces it with a final line. */
  done(): void;
}

export interface ProgressOptions {
  /** What is counted, as a past participle: "appended", "read". */
  verb: string;
  /** The count aimed at (--max), shown as "n of total". */
  total?: number | undefined;
  quiet: boolean;
  stream?: ProgressStream;
  /** Nothing is shown for waits shorter than this. Default 1 s. */
  delayMs?: number;
  intervalMs?: number;
}

const SILENT: Progress = { add: () => undefined, done: () => undefined };

const CLEAR_LINE = "\r\x1b[K";

export function startProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  if (!progressWanted(stream, options.quiet)) return SILENT;
  const startedAt = performance.now();
  let count = 0;
  let shown = false;
  const of = options.total === undefined ? "" : ` of ${options.total}`;
  const rate = (): string => {
    const seconds = (performance.now() - startedAt) / 1000;
    return `${Math.round(count / Math.max(seconds, 0.001)).toLocaleString("en-US")}/s`;
  };
  const render = (): void => {
    shown = true;
    stream.write(`${CLEAR_LINE}${options.verb} ${count}${of} records (${rate()})`);
  };
  let interval: NodeJS.Timeout | undefined;
  const delay = setTimeout(() => {
    render();
    interval = setInterval(render, options.intervalMs ?? 250);
    interval.unref();
  }, options.delayMs ?? 1000);
  delay.unref();
  return {
    add(n) {
      count += n;
    },
    done() {
      clearTimeout(delay);
      clearInterval(interval);
      if (!shown) return;
      const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
      stream.write(`${CLEAR_LINE}${options.verb} ${count} records in ${seconds} s (${rate()})\n`);
    },
  };
}
