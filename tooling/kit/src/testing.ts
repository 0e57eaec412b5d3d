/**
 * Test helpers of the kit (the `@xnai/kit/testing` entry): for tests only, never bundled into a
 * published package.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Runs `work` and collects what listeners rethrew in microtasks (the `Listeners` policy) until it
 * settled and one more microtask ran, instead of letting it surface as an uncaught error of the run.
 */
export async function captureMicrotaskErrors(work: () => unknown): Promise<unknown[]> {
  const errors: unknown[] = [];
  const original = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (task) =>
    original(() => {
      try {
        task();
      } catch (error) {
        errors.push(error);
      }
    });
  try {
    await work();
    await Promise.resolve();
  } finally {
    globalThis.queueMicrotask = original;
  }
  return errors;
}

/** One loaded copy of a built package. */
export interface PackageCopy {
  /** `esm`: `dist/index.js` imported; `cjs`: `dist/index.cjs` required; `copy`: `dist` copied elsewhere and imported. */
  readonly label: 'esm' | 'cjs' | 'copy';
  readonly module: Record<string, unknown>;
}

/**
 * Loads three separate copies of the built package in `packageDirectory`, as two installs of it
 * would be: its ESM build, its CommonJS build, and its ESM build copied to a temporary directory
 * (dependencies resolve through a link to the package's `node_modules`). Build the package first.
 */
export async function loadBuiltCopies(
  packageDirectory: string,
): Promise<{ copies: readonly PackageCopy[]; remove(): void }> {
  const dist = join(packageDirectory, 'dist');
  const esm = (await import(pathToFileURL(join(dist, 'index.js')).href)) as Record<string, unknown>;
  const cjs = createRequire(join(dist, 'index.cjs'))(join(dist, 'index.cjs')) as Record<string, unknown>;
  const directory = mkdtempSync(join(tmpdir(), 'xnai-copy-'));
  try {
    // Without source maps (theirs point at sources relative to the package) or links to them.
    cpSync(dist, join(directory, 'dist'), { recursive: true, filter: (source) => !source.endsWith('.map') });
    const copied = join(directory, 'dist', 'index.js');
    writeFileSync(copied, readFileSync(copied, 'utf8').replace(/(\n\/\/# sourceMappingURL=\S+)+\s*$/, '\n'));
    const manifest = JSON.parse(readFileSync(join(packageDirectory, 'package.json'), 'utf8')) as object;
    writeFileSync(join(directory, 'package.json'), JSON.stringify(manifest));
    symlinkSync(join(packageDirectory, 'node_modules'), join(directory, 'node_modules'), 'dir');
    const copy = (await import(pathToFileURL(join(directory, 'dist', 'index.js')).href)) as Record<
      string,
      unknown
    >;
    return {
      copies: [
        { label: 'esm', module: esm },
        { label: 'cjs', module: cjs },
        { label: 'copy', module: copy },
      ],
      remove: () => rmSync(directory, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
}

/** The errors of one package, as {@link findCrossCopyMismatches} checks them. */
export interface ErrorFamily {
  /** The exported base class whose `isInstance` recognises every error of the family. */
  readonly base: string;
  /** Each exported error class: its stable code and the arguments that construct one. */
  readonly errors: Readonly<Record<string, { readonly code: string; readonly args: readonly unknown[] }>>;
}

type ErrorClass = (new (...args: unknown[]) => Error) & { isInstance(value: unknown): boolean };

function errorClass(copy: PackageCopy, name: string): ErrorClass {
  const value = copy.module[name];
  if (typeof value !== 'function' || typeof (value as ErrorClass).isInstance !== 'function') {
    throw new TypeError(`${copy.label} copy exports no error class ${name}`);
  }
  return value as ErrorClass;
}

/**
 * Checks `isInstance` across separate copies of a package: every error made by one copy is
 * recognised by every copy's class and base class and by no other class, `instanceof` does not see
 * it across copies (so the copies are separate), and a look-alike (an `Error` with the same `name`
 * and `code` but no brand) is recognised by none. Returns what did not hold, one line each.
 */
export function findCrossCopyMismatches(copies: readonly PackageCopy[], family: ErrorFamily): string[] {
  const mismatches: string[] = [];
  const names = Object.keys(family.errors);
  for (const maker of copies) {
    for (const [name, { code, args }] of Object.entries(family.errors)) {
      const error = new (errorClass(maker, name))(...args) as Error & { code?: unknown };
      if (error.name !== name || error.code !== code) {
        mismatches.push(`${maker.label} ${name} has name ${error.name} and code ${String(error.code)}`);
      }
      for (const checker of copies) {
        const seen = `${maker.label} ${name} seen by ${checker.label}`;
        if (maker !== checker && error instanceof errorClass(checker, name)) {
          mismatches.push(`${seen}: instanceof holds, so the copies are one`);
        }
        if (!errorClass(checker, family.base).isInstance(error)) {
          mismatches.push(`${seen}: ${family.base}.isInstance is false`);
        }
        for (const other of names) {
          const recognised = errorClass(checker, other).isInstance(error);
          if (recognised !== (other === name))
            mismatches.push(`${seen}: ${other}.isInstance is ${recognised}`);
        }
      }
    }
  }
  for (const [name, { code }] of Object.entries(family.errors)) {
    const lookAlike = Object.assign(new Error(`a look-alike of ${name}`), { name, code });
    for (const checker of copies) {
      for (const className of [family.base, name]) {
        if (errorClass(checker, className).isInstance(lookAlike)) {
          mismatches.push(`a look-alike of ${name} is recognised by the ${checker.label} ${className}`);
        }
      }
    }
  }
  return mismatches;
}
