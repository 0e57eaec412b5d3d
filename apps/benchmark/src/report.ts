/** One line of the printed table and of the JSON file. */
export interface Row {
  /** Stable key, e.g. `closed-memory.ours`; the test checks these. */
  readonly id: string;
  /** The measurement this row belongs to, e.g. `1 closed path, memory store`. */
  readonly measurement: string;
  readonly subject: string;
  /** The raw figure. */
  readonly value: number;
  readonly unit: string;
  /** `value` divided by the reference's, when the row is compared with one. */
  readonly ratio: number | null;
  /** What `ratio` is relative to, e.g. `cockatiel`. */
  readonly ratioOf: string | null;
  /** The design's target, e.g. `<= 0.7x`, or null for context rows. */
  readonly target: string | null;
  /** Whether the target is met; null for context rows. */
  readonly met: boolean | null;
  /** What would close the gap, shown when the target is missed; null when nothing is said. */
  readonly remedy: string | null;
}

export interface MeasurementResult {
  readonly rows: Row[];
  /** Every figure behind the rows (rounds, samples, settings), written to the JSON file. */
  readonly raw: Record<string, unknown>;
  /** Lines printed under the table: how it was measured, caveats. */
  readonly notes: string[];
}

export function row(
  fields: Pick<Row, 'id' | 'measurement' | 'subject' | 'value' | 'unit'> & Partial<Row>,
): Row {
  return {
    ratio: null,
    ratioOf: null,
    target: null,
    met: null,
    remedy: null,
    ...fields,
  };
}

/** A figure with its unit, as the table prints it: `1,234 ns/op`, `2.50 ms`. */
export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return `${value} ${unit}`;
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${unit}`;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** In the order of the measurement numbers (they run in another order, CPU-bound ones first). */
export function sortRows(rows: readonly Row[]): Row[] {
  return [...rows].sort((a, b) => Number.parseInt(a.measurement, 10) - Number.parseInt(b.measurement, 10));
}

/** The plain table: one row per figure, grouped by measurement. */
export function formatTable(unsorted: readonly Row[]): string {
  const rows = sortRows(unsorted);
  const header = ['measurement', 'subject', 'raw', 'ratio', 'target', 'meets'];
  const cells = rows.map((entry) => [
    entry.measurement,
    entry.subject,
    formatValue(entry.value, entry.unit),
    entry.ratio === null ? '' : `${entry.ratio.toFixed(2)}x ${entry.ratioOf ?? ''}`.trim(),
    entry.target ?? '',
    entry.met === null ? '' : entry.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((line) => (line[column] as string).length)),
  );
  const rightAligned = new Set([2, 3]);
  const format = (line: readonly string[]) =>
    line.map((cell, column) => pad(cell, widths[column] as number, rightAligned.has(column))).join('  ');
  const lines = [format(header), widths.map((width) => '-'.repeat(width)).join('  ')];
  let previous = '';
  for (const [index, line] of cells.entries()) {
    const measurement = rows[index]?.measurement ?? '';
    if (previous !== '' && measurement !== previous) lines.push('');
    // The measurement is named on its first row only.
    lines.push(format(measurement === previous ? ['', ...line.slice(1)] : line));
    previous = measurement;
  }
  return lines.join('\n');
}
