/** What a measurement tells the person watching the run: which step runs, and how far it is. */
export interface Progress {
  /** A new step of the current measurement, e.g. `at rest, 200 instances`. */
  step(label: string): void;
  /** How far the current step is, e.g. `7/15 s, 1,234 commands/s`; throttled when not a terminal. */
  update(detail: string): void;
}

/** The command's side: one measurement after the other. */
export interface RunProgress extends Progress {
  begin(measurement: string): void;
  end(): void;
}

/** Progress that goes nowhere. */
export const silentProgress: Progress = { step() {}, update() {} };

/**
 * Writes to stderr only (stdout carries the table). On a terminal one line is rewritten in place;
 * otherwise (CI, a pipe, the test) there is a line per step and at most one update every 5 s.
 */
export function createProgress(stream: NodeJS.WriteStream = process.stderr): RunProgress {
  const terminal = stream.isTTY === true;
  let measurement = '';
  let label = '';
  let startedAt = 0;
  let lastLineAt = 0;
  const elapsed = () => `${((performance.now() - startedAt) / 1_000).toFixed(1)} s`;
  const rewrite = (text: string) => stream.write(`\r\x1b[K${text}`);
  return {
    begin(name) {
      measurement = name;
      label = '';
      startedAt = performance.now();
      lastLineAt = startedAt;
      if (terminal) rewrite(`  measuring ${measurement} ...`);
      else stream.write(`  measuring ${measurement} ...\n`);
    },
    step(next) {
      label = next;
      lastLineAt = performance.now();
      if (terminal) rewrite(`  measuring ${measurement} [${elapsed()}]: ${label}`);
      else stream.write(`    ${measurement} [${elapsed()}]: ${label}\n`);
    },
    update(detail) {
      if (terminal) {
        rewrite(`  measuring ${measurement} [${elapsed()}]: ${label}: ${detail}`);
        return;
      }
      const now = performance.now();
      if (now - lastLineAt < 5_000) return;
      lastLineAt = now;
      stream.write(`    ${measurement} [${elapsed()}]: ${label}: ${detail}\n`);
    },
    end() {
      if (terminal) rewrite(`  measuring ${measurement} ... ${elapsed()}\n`);
      else stream.write(`  measured ${measurement} in ${elapsed()}\n`);
    },
  };
}
