import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * TSDoc on every export of every published package: each name its `src/index.ts` exports, followed
 * through re-exports to its declaration, has a doc comment with text.
 */
const root = resolve(import.meta.dirname, '../../..');

const published = readdirSync(join(root, 'packages')).filter((directory) => {
  const manifest = JSON.parse(readFileSync(join(root, 'packages', directory, 'package.json'), 'utf8')) as {
    private?: boolean;
  };
  return manifest.private !== true;
});

function undocumentedExports(directory: string): string[] {
  const packageDirectory = join(root, 'packages', directory);
  const config = ts.getParsedCommandLineOfConfigFile(join(packageDirectory, 'tsconfig.json'), undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  });
  if (config === undefined) throw new Error(`${directory}: no tsconfig.json`);
  const index = join(packageDirectory, 'src/index.ts');
  const program = ts.createProgram([index], config.options);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(index);
  const module = source === undefined ? undefined : checker.getSymbolAtLocation(source);
  if (module === undefined) throw new Error(`${directory}: src/index.ts has no exports`);
  return checker
    .getExportsOfModule(module)
    .filter((exported) => {
      const symbol =
        (exported.flags & ts.SymbolFlags.Alias) === 0 ? exported : checker.getAliasedSymbol(exported);
      return ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() === '';
    })
    .map((exported) => exported.name);
}

describe('TSDoc', () => {
  it.each(published)('documents every export of packages/%s', (directory) => {
    expect(undocumentedExports(directory)).toEqual([]);
  });
});
