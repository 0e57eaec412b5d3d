import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type BenchResults, renderReport } from './report-document.js';

export type { BenchResults };

/** The repository's biome, found from `directory` upwards; undefined outside the monorepo. */
function findBiome(directory: string): string | undefined {
  for (let current = directory; ; current = dirname(current)) {
    const candidate = join(current, 'node_modules', '.bin', 'biome');
    if (existsSync(candidate)) return candidate;
    if (dirname(current) === current) return undefined;
  }
}

/**
 * Writes REPORT.md, its SVG charts and the run's JSON (report.json, from which `--report-from`
 * renders them again) into `directory`; returns their paths. The Markdown and the JSON are then
 * formatted by the repository's biome, as `pnpm lint` wants every committed file.
 */
export function writeReport(results: BenchResults, directory: string): string[] {
  const rendered = renderReport(results);
  mkdirSync(directory, { recursive: true });
  const written: string[] = [];
  const write = (file: string, content: string) => {
    const path = join(directory, file);
    writeFileSync(path, content);
    written.push(path);
  };
  write('REPORT.md', rendered.markdown);
  for (const chart of rendered.charts) write(chart.file, chart.svg);
  write('report.json', `${JSON.stringify(results, null, 2)}\n`);
  const biome = findBiome(directory);
  const formatted = written.filter((path) => path.endsWith('.md') || path.endsWith('.json'));
  if (biome === undefined) {
    process.stderr.write('biome not found: REPORT.md and report.json are left unformatted\n');
  } else {
    try {
      execFileSync(biome, ['format', '--write', ...formatted], { stdio: 'ignore' });
    } catch (error) {
      process.stderr.write(`biome format failed (${String(error)}): the files are written, unformatted\n`);
    }
  }
  return written;
}
