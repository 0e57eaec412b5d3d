import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const packageDirectory = join(import.meta.dirname, '../..');
const outDirectory = join(packageDirectory, 'node_modules/.cache/child-process-test');

function sourceHash(): string {
  const hash = createHash('sha256');
  const walk = (directory: string) => {
    for (const entry of readdirSync(directory, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
        hash.update(path).update(readFileSync(path));
      }
    }
  };
  walk(join(packageDirectory, 'src'));
  return hash.digest('hex');
}

/**
 * Bundles the package (ESM, ioredis external) for child processes, which run plain `node` without a
 * TypeScript loader; skipped when the sources have not changed since the last bundle.
 * @returns the directory holding `index.js`; child scripts written there import `./index.js`.
 */
export function bundleForChildren(): string {
  const hash = sourceHash();
  const marker = join(outDirectory, 'source.sha256');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === hash) return outDirectory;
  mkdirSync(outDirectory, { recursive: true });
  const tsupCli = join(
    dirname(createRequire(import.meta.url).resolve('tsup/package.json')),
    'dist/cli-default.js',
  );
  execFileSync(
    process.execPath,
    [
      tsupCli,
      'src/index.ts',
      '--no-config',
      '--format',
      'esm',
      '--target',
      'node22',
      '--external',
      'ioredis',
      '--out-dir',
      outDirectory,
      '--silent',
    ],
    { cwd: packageDirectory, stdio: 'pipe' },
  );
  // tsup names the bundle index.mjs outside a "type": "module" package; scripts import ./index.js.
  if (existsSync(join(outDirectory, 'index.mjs'))) {
    renameSync(join(outDirectory, 'index.mjs'), join(outDirectory, 'index.js'));
  }
  writeFileSync(join(outDirectory, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(marker, hash);
  return outDirectory;
}

/** Writes a child script beside the bundle and returns its path. */
export function writeChildScript(name: string, source: string): string {
  const path = join(bundleForChildren(), name);
  writeFileSync(path, source);
  return path;
}

/** A running child process with its output collected. */
export interface Child {
  readonly process: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the first stdout line starting with `prefix`. */
  line(prefix: string, timeoutMs?: number): Promise<string>;
  /** Writes one line to stdin. */
  send(line: string): void;
  /** Resolves with the exit code (null when killed) and when it exited (`performance.now()`). */
  readonly exited: Promise<{ code: number | null; at: number }>;
  /** Kills it by PID if it still runs. */
  kill(): void;
}

/** Starts `node <script> ...args` and collects its output. */
export function startChild(script: string, args: readonly string[]): Child {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => {
    child.once('exit', (code) => {
      resolve({ code, at: performance.now() });
      for (const wake of waiters.splice(0)) wake();
    });
  });
  const findLine = (prefix: string) => stdout.split('\n').find((line) => line.startsWith(prefix));
  return {
    process: child,
    output: () => `${stdout}${stderr}`,
    line(prefix, timeoutMs = 10_000) {
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(`child: no line starting with "${prefix}" within ${timeoutMs} ms:\n${stdout}${stderr}`),
          );
        }, timeoutMs);
        const check = () => {
          const found = findLine(prefix);
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            reject(new Error(`child exited before "${prefix}":\n${stdout}${stderr}`));
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
    send(line) {
      child.stdin?.write(`${line}\n`);
    },
    exited,
    kill() {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, 'SIGKILL');
      }
    },
  };
}
