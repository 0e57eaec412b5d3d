/**
 * Small hand-written SVG charts for the benchmark report: horizontal bars, and line charts in one
 * or more stacked panels that share their x axis. Plain strings, no dependencies; every chart is a
 * pure function of its data, so the same run always renders the same bytes.
 */

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf'];
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"';

export type Scale = 'linear' | 'log';

export interface Axis {
  readonly label: string;
  /** @default 'linear' */
  readonly scale?: Scale;
  /** Range; taken from the data (and 0 for a linear axis) when absent. */
  readonly min?: number;
  readonly max?: number;
  /** Fixed ticks instead of computed ones, e.g. `[{ value: 1, label: 'fallback' }]`. */
  readonly ticks?: ReadonlyArray<{ readonly value: number; readonly label: string }>;
}

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  /** @default false */
  readonly dashed?: boolean;
  /** A circle on every point. @default false */
  readonly markers?: boolean;
  /** Steps (value held until the next point) instead of straight segments. @default false */
  readonly step?: boolean;
  /** Fill down to the axis. @default false */
  readonly area?: boolean;
  readonly color?: string;
}

/** A shaded range of x, e.g. the time Redis was down. */
export interface Band {
  readonly from: number;
  readonly to: number;
  readonly label: string;
}

/** A horizontal reference line, e.g. one Redis core. */
export interface ReferenceLine {
  readonly y: number;
  readonly label: string;
}

export interface Panel {
  readonly y: Axis;
  readonly series: readonly Series[];
  readonly references?: readonly ReferenceLine[];
  /** Height of the plot area, px. @default 200 */
  readonly height?: number;
}

export interface LineChartSpec {
  readonly title: string;
  readonly x: Axis;
  readonly panels: readonly Panel[];
  readonly bands?: readonly Band[];
  /** @default 760 */
  readonly width?: number;
}

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** Drawn in the accent colour (ours). @default false */
  readonly highlight?: boolean;
}

export interface BarChartSpec {
  readonly title: string;
  /** Unit of the values, shown on the axis and after each figure, e.g. `ns per call`. */
  readonly unit: string;
  readonly bars: readonly Bar[];
  /** @default 'linear' */
  readonly scale?: Scale;
  /** @default 760 */
  readonly width?: number;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A coordinate: one decimal is plenty for a screen, and keeps the file small. */
function px(value: number): string {
  return (Math.round(value * 10) / 10).toString();
}

/** A figure as a tick or bar label: 3 significant digits, thousands separated, SI suffix from 10^4. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 1e9) return `${trim(value / 1e9)}G`;
  if (magnitude >= 1e6) return `${trim(value / 1e6)}M`;
  if (magnitude >= 1e4) return `${trim(value / 1e3)}k`;
  if (magnitude >= 100) return Math.round(value).toLocaleString('en-US');
  return trim(value);
}

function trim(value: number): string {
  return Number(value.toPrecision(3)).toString();
}

interface Mapping {
  readonly min: number;
  readonly max: number;
  readonly ticks: ReadonlyArray<{ value: number; label: string }>;
  /** 0..1 along the axis. */
  position(value: number): number;
}

/** Ticks at 1, 2, 5 × 10^k, about `count` of them. */
function niceTicks(min: number, max: number, count: number): number[] {
  const span = max - min || Math.abs(max) || 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((factor) => factor * power >= raw) ?? 10) * power;
  const ticks: number[] = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step) {
    ticks.push(Math.abs(value) < step * 1e-9 ? 0 : value);
  }
  return ticks;
}

function mapping(axis: Axis, values: readonly number[]): Mapping {
  const scale = axis.scale ?? 'linear';
  const finite = values.filter((value) => Number.isFinite(value) && (scale === 'linear' || value > 0));
  if (scale === 'log') {
    const low = axis.min ?? (finite.length === 0 ? 1 : Math.min(...finite));
    const high = axis.max ?? (finite.length === 0 ? 10 : Math.max(...finite));
    const min = 10 ** Math.floor(Math.log10(low));
    const max = Math.max(10 ** Math.ceil(Math.log10(high)), min * 10);
    const ticks =
      axis.ticks ??
      Array.from({ length: Math.round(Math.log10(max / min)) + 1 }, (_, index) => {
        const value = min * 10 ** index;
        return { value, label: formatNumber(value) };
      });
    return {
      min,
      max,
      ticks,
      position: (value) =>
        value <= 0 ? 0 : Math.min(1, Math.max(0, Math.log10(value / min) / Math.log10(max / min))),
    };
  }
  const low = axis.min ?? Math.min(0, ...finite);
  // Headroom above the highest point, so that a line near the top stays clear of the legend.
  let high = axis.max ?? Math.max(...finite, low + 1e-9) * 1.15;
  if (axis.max === undefined && axis.ticks === undefined) {
    const ticks = niceTicks(low, high, 5);
    high = Math.max(high, ticks.at(-1) ?? high);
  }
  const ticks = axis.ticks ?? niceTicks(low, high, 5).map((value) => ({ value, label: formatNumber(value) }));
  const span = high - low || 1;
  return {
    min: low,
    max: high,
    ticks,
    position: (value) => Math.min(1, Math.max(0, (value - low) / span)),
  };
}

function svgOpen(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${px(height)}" viewBox="0 0 ${width} ${px(height)}" ${FONT} font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${px(height)}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${escapeXml(title)}</text>`,
  ];
}

/** Line chart: panels stacked top to bottom over one x axis (labelled under the last panel). */
export function lineChart(spec: LineChartSpec): string {
  const width = spec.width ?? 760;
  // Room for the widest fixed tick label (e.g. "connected") beside the rotated axis title.
  const widestTick = Math.max(
    5,
    ...spec.panels.flatMap((panel) => (panel.y.ticks ?? []).map((tick) => tick.label.length)),
  );
  const left = 34 + widestTick * 7;
  const right = 24;
  const plotWidth = width - left - right;
  const gap = 34;
  const top = 44;
  const xValues = spec.panels.flatMap((panel) =>
    panel.series.flatMap((series) => series.points.map(([x]) => x)),
  );
  for (const band of spec.bands ?? []) xValues.push(band.from, band.to);
  const x = mapping(spec.x, xValues);
  const heights = spec.panels.map((panel) => panel.height ?? 200);
  const total = top + heights.reduce((sum, height) => sum + height + gap, 0) + 30;
  const out = svgOpen(width, total, spec.title);
  let offset = top;
  let colorIndex = 0;
  for (const [index, panel] of spec.panels.entries()) {
    const height = heights[index] as number;
    const yValues = panel.series.flatMap((series) => series.points.map(([, y]) => y));
    for (const reference of panel.references ?? []) yValues.push(reference.y);
    const y = mapping(panel.y, yValues);
    const toX = (value: number) => left + x.position(value) * plotWidth;
    const toY = (value: number) => offset + height - y.position(value) * height;
    out.push(`<g class="panel" data-panel="${index}">`);
    for (const band of spec.bands ?? []) {
      const from = toX(band.from);
      out.push(
        `<rect class="band" x="${px(from)}" y="${px(offset)}" width="${px(Math.max(1, toX(band.to) - from))}" height="${height}" fill="#f2b8b5" fill-opacity="0.35"/>`,
      );
      if (index === 0) {
        out.push(
          `<text x="${px(from + 4)}" y="${px(offset + height - 6)}" fill="#9c2b23">${escapeXml(band.label)}</text>`,
        );
      }
    }
    for (const tick of y.ticks) {
      const at = toY(tick.value);
      out.push(
        `<line x1="${left}" x2="${left + plotWidth}" y1="${px(at)}" y2="${px(at)}" stroke="#e5e5e5"/>`,
        `<text x="${left - 6}" y="${px(at + 4)}" text-anchor="end" fill="#444">${escapeXml(tick.label)}</text>`,
      );
    }
    out.push(
      `<rect x="${left}" y="${px(offset)}" width="${plotWidth}" height="${height}" fill="none" stroke="#999"/>`,
      `<text transform="translate(16 ${px(offset + height / 2)}) rotate(-90)" text-anchor="middle" fill="#222">${escapeXml(panel.y.label)}</text>`,
    );
    for (const reference of panel.references ?? []) {
      const at = toY(reference.y);
      out.push(
        `<line class="reference" x1="${left}" x2="${left + plotWidth}" y1="${px(at)}" y2="${px(at)}" stroke="#b00020" stroke-width="1.5" stroke-dasharray="6 3"/>`,
        `<text x="${left + 6}" y="${px(at - 5)}" fill="#b00020">${escapeXml(reference.label)}</text>`,
      );
    }
    const legend: string[] = [];
    for (const series of panel.series) {
      const color = series.color ?? (PALETTE[colorIndex % PALETTE.length] as string);
      colorIndex += 1;
      const points = series.points.filter(
        ([px_, py]) =>
          Number.isFinite(px_) && Number.isFinite(py) && ((panel.y.scale ?? 'linear') === 'linear' || py > 0),
      );
      if (points.length > 0) {
        const coordinates: string[] = [];
        for (const [pointIndex, [valueX, valueY]] of points.entries()) {
          const previous = points[pointIndex - 1];
          if (series.step === true && previous !== undefined) {
            coordinates.push(`${px(toX(valueX))},${px(toY(previous[1]))}`);
          }
          coordinates.push(`${px(toX(valueX))},${px(toY(valueY))}`);
        }
        if (series.area === true) {
          const first = points[0] as readonly [number, number];
          const last = points.at(-1) as readonly [number, number];
          out.push(
            `<polygon points="${px(toX(first[0]))},${px(offset + height)} ${coordinates.join(' ')} ${px(toX(last[0]))},${px(offset + height)}" fill="${color}" fill-opacity="0.25" stroke="none"/>`,
          );
        }
        out.push(
          `<polyline class="series" data-name="${escapeXml(series.name)}" points="${coordinates.join(' ')}" fill="none" stroke="${color}" stroke-width="2"${series.dashed === true ? ' stroke-dasharray="7 4"' : ''}/>`,
        );
        if (series.markers === true) {
          for (const [valueX, valueY] of points) {
            out.push(`<circle cx="${px(toX(valueX))}" cy="${px(toY(valueY))}" r="3.5" fill="${color}"/>`);
          }
        }
      }
      legend.push(color);
    }
    // Legend in the panel's top right corner, one line per series.
    const legendWidth = Math.max(...panel.series.map((series) => series.name.length), 4) * 6.6 + 30;
    for (const [seriesIndex, series] of panel.series.entries()) {
      const ly = offset + 16 + seriesIndex * 16;
      const lx = left + plotWidth - legendWidth;
      out.push(
        `<line x1="${px(lx)}" x2="${px(lx + 18)}" y1="${px(ly - 4)}" y2="${px(ly - 4)}" stroke="${legend[seriesIndex]}" stroke-width="2.5"${series.dashed === true ? ' stroke-dasharray="5 3"' : ''}/>`,
        `<text x="${px(lx + 24)}" y="${px(ly)}" fill="#222">${escapeXml(series.name)}</text>`,
      );
    }
    const last = index === spec.panels.length - 1;
    for (const tick of x.ticks) {
      const at = toX(tick.value);
      out.push(
        `<line x1="${px(at)}" x2="${px(at)}" y1="${px(offset + height)}" y2="${px(offset + height + 4)}" stroke="#999"/>`,
      );
      if (last) {
        out.push(
          `<text x="${px(at)}" y="${px(offset + height + 17)}" text-anchor="middle" fill="#444">${escapeXml(tick.label)}</text>`,
        );
      }
    }
    if (last) {
      out.push(
        `<text x="${px(left + plotWidth / 2)}" y="${px(offset + height + 33)}" text-anchor="middle" fill="#222">${escapeXml(spec.x.label)}</text>`,
      );
    }
    out.push('</g>');
    offset += height + gap;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Horizontal bars, one per subject, the figure printed after each. */
export function barChart(spec: BarChartSpec): string {
  const width = spec.width ?? 760;
  const labelWidth = Math.min(300, Math.max(...spec.bars.map((bar) => bar.label.length), 8) * 6.8 + 16);
  const left = labelWidth;
  const right = 90;
  const plotWidth = width - left - right;
  const barHeight = 22;
  const gap = 10;
  const top = 44;
  const plotHeight = spec.bars.length * (barHeight + gap);
  const total = top + plotHeight + 46;
  const values = spec.bars.map((bar) => bar.value);
  const lowest = Math.min(...values.filter((value) => value > 0));
  // On a log axis, start a decade below the shortest bar, so that it still shows.
  const min =
    (spec.scale ?? 'linear') === 'log' && Number.isFinite(lowest)
      ? 10 ** (Math.ceil(Math.log10(lowest)) - 1)
      : undefined;
  const x = mapping(
    { label: spec.unit, scale: spec.scale ?? 'linear', ...(min === undefined ? {} : { min }) },
    values,
  );
  const out = svgOpen(width, total, spec.title);
  for (const tick of x.ticks) {
    const at = left + x.position(tick.value) * plotWidth;
    out.push(
      `<line x1="${px(at)}" x2="${px(at)}" y1="${top - 4}" y2="${px(top + plotHeight)}" stroke="#e5e5e5"/>`,
      `<text x="${px(at)}" y="${px(top + plotHeight + 16)}" text-anchor="middle" fill="#444">${escapeXml(tick.label)}</text>`,
    );
  }
  for (const [index, bar] of spec.bars.entries()) {
    const y = top + index * (barHeight + gap);
    const length = Number.isFinite(bar.value) ? Math.max(1, x.position(bar.value) * plotWidth) : 0;
    out.push(
      `<text x="${left - 8}" y="${px(y + barHeight / 2 + 4)}" text-anchor="end" fill="#222">${escapeXml(bar.label)}</text>`,
      `<rect class="bar" data-label="${escapeXml(bar.label)}" x="${left}" y="${px(y)}" width="${px(length)}" height="${barHeight}" fill="${bar.highlight === true ? '#d62728' : '#7f98b3'}"/>`,
      `<text x="${px(left + length + 6)}" y="${px(y + barHeight / 2 + 4)}" fill="#222">${escapeXml(formatNumber(bar.value))}</text>`,
    );
  }
  out.push(
    `<line x1="${left}" x2="${left}" y1="${top - 4}" y2="${px(top + plotHeight)}" stroke="#999"/>`,
    `<text x="${px(left + plotWidth / 2)}" y="${px(top + plotHeight + 34)}" text-anchor="middle" fill="#222">${escapeXml(`${spec.unit}${(spec.scale ?? 'linear') === 'log' ? ' (log scale)' : ''}`)}</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}
