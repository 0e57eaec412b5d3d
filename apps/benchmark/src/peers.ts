import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed version of a peer this benchmark compares against, read from its package.json. */
function installedVersion(name: string): string {
  // Resolved from the package's entry point, since a peer's exports map may not list package.json.
  let directory = dirname(fileURLToPath(import.meta.resolve(name)));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === name && manifest.version !== undefined) return manifest.version;
    } catch {
      // no package.json here: go up
    }
    const parent = dirname(directory);
    if (parent === directory) return 'unknown';
    directory = parent;
  }
}

/** Versions of the peers, as printed in the header and in every row that names one. */
export const PEER_VERSIONS = Object.freeze({
  cockatiel: installedVersion('cockatiel'),
  opossum: installedVersion('opossum'),
});

/** `cockatiel 4.0.0`: how rows name a peer. */
export const COCKATIEL = `cockatiel ${PEER_VERSIONS.cockatiel}`;
export const OPOSSUM = `opossum ${PEER_VERSIONS.opossum}`;
