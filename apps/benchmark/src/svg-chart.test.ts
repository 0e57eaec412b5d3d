import { describe, expect, it } from 'vitest';
import { barChart, escapeXml, formatNumber, lineChart } from './svg-chart.js';

/** Every opened element is closed in order: the output is well-formed XML as far as tags go. */
function assertBalanced(svg: string): void {
  const stack: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match as unknown as [string, string, string, string];
    if (selfClosing === '/') continue;
    if (closing === '/') expect(stack.pop(), `closing </${name}>`).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
}

function pointsOf(svg: string, name: string): Array<[number, number]> {
  const match = new RegExp(`<polyline class="series" data-name="${name}" points="([^"]*)"`).exec(svg);
  expect(match, `series ${name}`).not.toBeNull();
  return (match?.[1] ?? '').split(' ').map((pair) => pair.split(',').map(Number) as [number, number]);
}

describe('lineChart', () => {
  const svg = lineChart({
    title: 'Redis <cost> & "instances"',
    x: { label: 'instances', scale: 'log' },
    bands: [{ from: 100, to: 1_000, label: 'down' }],
    panels: [
      {
        y: { label: 'CPU %', scale: 'log' },
        series: [
          {
            name: 'measured',
            points: [
              [10, 1],
              [100, 10],
              [1_000, 100],
            ],
            markers: true,
          },
          {
            name: 'extrapolated',
            points: [
              [1_000, 100],
              [10_000, 1_000],
            ],
            dashed: true,
          },
        ],
        references: [{ y: 100, label: 'one core' }],
      },
      {
        y: {
          label: 'mode',
          min: 0,
          max: 1,
          ticks: [
            { value: 0, label: 'connected' },
            { value: 1, label: 'fallback' },
          ],
        },
        series: [
          {
            name: 'fallback',
            points: [
              [10, 0],
              [100, 1],
              [1_000, 0],
            ],
            step: true,
            area: true,
          },
        ],
        height: 60,
      },
    ],
  });

  it('is one well-formed svg element with its title escaped', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toMatch(/viewBox="0 0 760 [\d.]+"/);
    expect(svg).toContain('<title>Redis &lt;cost&gt; &amp; &quot;instances&quot;</title>');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
    assertBalanced(svg);
  });

  it('draws a panel per panel, a line per series, the band, the reference line and a marker per point', () => {
    expect(svg.match(/<g class="panel"/g)).toHaveLength(2);
    expect(svg.match(/<polyline class="series"/g)).toHaveLength(3);
    expect(svg.match(/<rect class="band"/g)).toHaveLength(2);
    expect(svg.match(/<line class="reference"/g)).toHaveLength(1);
    expect(svg.match(/<circle /g)).toHaveLength(3);
    expect(svg).toContain('stroke-dasharray="7 4"');
    expect(svg).toContain('>fallback<');
    expect(svg).toContain('>connected<');
  });

  it('places points on log axes in proportion to their logarithm', () => {
    const [first, second, third] = pointsOf(svg, 'measured') as [
      [number, number],
      [number, number],
      [number, number],
    ];
    // x: 10, 100, 1,000 on a 10..10,000 axis are a third apart; y decades are equally spaced too.
    expect(second[0] - first[0]).toBeCloseTo(third[0] - second[0], 0);
    expect(first[1] - second[1]).toBeCloseTo(second[1] - third[1], 0);
    expect(second[1]).toBeLessThan(first[1]);
    const [start, end] = pointsOf(svg, 'extrapolated') as [[number, number], [number, number]];
    expect(start).toEqual(third);
    expect(end[0]).toBeGreaterThan(start[0]);
  });

  it('holds a step series level until the next point', () => {
    const points = pointsOf(svg, 'fallback');
    // 3 points become 5 vertices: each change is a vertical edge at the new x.
    expect(points).toHaveLength(5);
    expect(points[1]?.[0]).toBe(points[2]?.[0]);
    expect(points[1]?.[1]).toBe(points[0]?.[1]);
  });

  it('leaves out points a log axis cannot show instead of drawing NaN', () => {
    const withZero = lineChart({
      title: 't',
      x: { label: 'x' },
      panels: [
        {
          y: { label: 'y', scale: 'log' },
          series: [
            {
              name: 's',
              points: [
                [0, 0],
                [1, 10],
                [2, Number.NaN],
                [3, 100],
              ],
            },
          ],
        },
      ],
    });
    expect(pointsOf(withZero, 's')).toHaveLength(2);
    expect(withZero).not.toMatch(/NaN/);
  });
});

describe('barChart', () => {
  it('draws one bar per subject, lengths in proportion on a linear axis, ours highlighted', () => {
    const svg = barChart({
      title: 'Open path',
      unit: 'ns per call',
      bars: [
        { label: 'ours', value: 100, highlight: true },
        { label: 'peer <a>', value: 400 },
      ],
    });
    assertBalanced(svg);
    const widths = [
      ...svg.matchAll(/<rect class="bar" data-label="([^"]*)"[^>]* width="([\d.]+)"[^>]*fill="([^"]+)"/g),
    ].map((match) => ({ label: match[1], width: Number(match[2]), fill: match[3] }));
    expect(widths.map((bar) => bar.label)).toEqual(['ours', 'peer &lt;a&gt;']);
    expect((widths[1]?.width ?? 0) / (widths[0]?.width ?? 1)).toBeCloseTo(4, 1);
    expect(widths[0]?.fill).not.toBe(widths[1]?.fill);
    expect(svg).toContain('>400<');
  });

  it('spaces decades equally on a log axis', () => {
    const svg = barChart({
      title: 'Closed path',
      unit: 'ns',
      scale: 'log',
      bars: [
        { label: 'a', value: 10 },
        { label: 'b', value: 100 },
        { label: 'c', value: 1_000 },
      ],
    });
    const widths = [...svg.matchAll(/<rect class="bar"[^>]* width="([\d.]+)"/g)].map((match) =>
      Number(match[1]),
    );
    expect((widths[2] ?? 0) - (widths[1] ?? 0)).toBeCloseTo((widths[1] ?? 0) - (widths[0] ?? 0), 0);
    expect(svg).toContain('(log scale)');
  });
});

describe('formatting', () => {
  it('formats figures for labels', () => {
    expect(formatNumber(0.0123)).toBe('0.0123');
    expect(formatNumber(42.25)).toBe('42.3');
    expect(formatNumber(1_899)).toBe('1,899');
    expect(formatNumber(97_300)).toBe('97.3k');
    expect(formatNumber(2_500_000)).toBe('2.5M');
    expect(escapeXml('a<b>&"c"')).toBe('a&lt;b&gt;&amp;&quot;c&quot;');
  });
});
