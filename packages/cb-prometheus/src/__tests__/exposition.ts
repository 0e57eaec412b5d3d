/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: every line
 * must be a `# HELP`, a `# TYPE` or a sample of the family last typed; label values are unescaped;
 * a histogram's buckets must be cumulative and end with `+Inf` equal to `_count`. Throws on the
 * first line that breaks the format.
 */
export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  readonly samples: ParsedSample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const HELP = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE = new RegExp(`^(${NAME})(\\{.*\\})? (\\S+)$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const body = text.slice(1, -1);
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < body.length) {
    const match = LABEL.exec(body);
    if (match === null) throw new Error(`malformed labels in ${JSON.stringify(line)}`);
    const [, key, raw] = match as unknown as [string, string, string];
    if (key in labels) throw new Error(`duplicate label ${key} in ${JSON.stringify(line)}`);
    labels[key] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  const value = Number(text);
  if (text.trim() === '' || Number.isNaN(value)) throw new Error(`bad value in ${JSON.stringify(line)}`);
  return value;
}

export function parseExposition(text: string): Map<string, ParsedFamily> {
  const families = new Map<string, ParsedFamily>();
  const helps = new Map<string, string>();
  let current: ParsedFamily | null = null;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const help = HELP.exec(line);
    if (help !== null) {
      helps.set(help[1] as string, help[2] as string);
      continue;
    }
    const type = TYPE.exec(line);
    if (type !== null) {
      const name = type[1] as string;
      if (families.has(name)) throw new Error(`family ${name} typed twice`);
      current = {
        name,
        help: helps.get(name) ?? '',
        type: type[2] as ParsedFamily['type'],
        samples: [],
      };
      families.set(name, current);
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment ${JSON.stringify(line)}`);
    const sample = SAMPLE.exec(line);
    if (sample === null) throw new Error(`malformed sample ${JSON.stringify(line)}`);
    const name = sample[1] as string;
    if (current === null) throw new Error(`sample before any TYPE: ${JSON.stringify(line)}`);
    const allowed =
      current.type === 'histogram'
        ? [`${current.name}_bucket`, `${current.name}_sum`, `${current.name}_count`]
        : [current.name];
    if (!allowed.includes(name)) throw new Error(`sample ${name} outside its family ${current.name}`);
    current.samples.push({
      name,
      labels: sample[2] === undefined ? {} : parseLabels(sample[2], line),
      value: parseValue(sample[3] as string, line),
    });
  }
  for (const family of families.values()) {
    if (family.type === 'histogram') checkHistogram(family);
  }
  return families;
}

function seriesKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(
    Object.entries(labels)
      .filter(([key]) => key !== 'le')
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

function checkHistogram(family: ParsedFamily): void {
  const buckets = new Map<string, Array<[number, number]>>();
  const counts = new Map<string, number>();
  for (const sample of family.samples) {
    const key = seriesKey(sample.labels);
    if (sample.name.endsWith('_bucket')) {
      const le = sample.labels.le;
      if (le === undefined) throw new Error(`${family.name}: bucket without le`);
      const list = buckets.get(key) ?? [];
      list.push([parseValue(le, le), sample.value]);
      buckets.set(key, list);
    } else if (sample.name.endsWith('_count')) counts.set(key, sample.value);
  }
  for (const [key, list] of buckets) {
    for (let index = 1; index < list.length; index += 1) {
      const [bound, value] = list[index] as [number, number];
      const [previousBound, previousValue] = list[index - 1] as [number, number];
      if (bound <= previousBound || value < previousValue) {
        throw new Error(`${family.name}${key}: buckets not increasing`);
      }
    }
    const last = list.at(-1);
    if (last?.[0] !== Number.POSITIVE_INFINITY) throw new Error(`${family.name}${key}: no +Inf bucket`);
    if (counts.get(key) !== last[1]) throw new Error(`${family.name}${key}: +Inf bucket differs from _count`);
  }
}

/** The value of the one sample of `family` (or of `name` inside a histogram) whose labels include `labels`. */
export function sampleValue(
  families: Map<string, ParsedFamily>,
  family: string,
  labels: Record<string, string> = {},
  name = family,
): number | undefined {
  const found = families
    .get(family)
    ?.samples.filter(
      (sample) =>
        sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    );
  if (found === undefined || found.length === 0) return undefined;
  if (found.length > 1) throw new Error(`${family}${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}
