import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate authority and a server certificate it signed, as files and PEM text. */
export interface TlsMaterial extends Disposable {
  /** The temporary directory holding every file below. */
  readonly directory: string;
  /** PEM of the CA certificate: what a client passes as `tls.ca` to trust the server. */
  readonly ca: string;
  readonly caPath: string;
  /** Server certificate for `127.0.0.1` and `localhost` (subjectAltName), signed by the CA. */
  readonly certPath: string;
  readonly keyPath: string;
  /** Removes the directory. Idempotent. */
  remove(): void;
}

function openssl(directory: string, args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { cwd: directory, stdio: 'pipe' });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    throw new Error(
      `createTlsMaterial: \`openssl ${args[0]}\` failed (${(error as Error).message}) ${stderr}`.trim(),
    );
  }
}

/**
 * Generates, with the `openssl` command, a fresh CA and a server certificate it signed (P-256 keys,
 * valid for 2 days, subjectAltName `IP:127.0.0.1, DNS:localhost`) in a new temporary directory. Each
 * call makes a different CA, so the CA of one call does not trust the server of another: that is how
 * tests get an untrusted certificate.
 *
 * @throws Error when `openssl` is missing or fails, with its message.
 * @example
 * using material = createTlsMaterial();
 * const manager = new RedisConnectionManager({ url, tls: { ca: material.ca } });
 */
export function createTlsMaterial(): TlsMaterial {
  const directory = mkdtempSync(join(tmpdir(), 'xnai-tls-'));
  const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    openssl(directory, [
      'req',
      '-x509',
      ...curve,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=xnai test CA',
    ]);
    openssl(directory, [
      'req',
      ...curve,
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=localhost',
    ]);
    writeFileSync(
      join(directory, 'server.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
    );
    openssl(directory, [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    ]);
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  const caPath = join(directory, 'ca.crt');
  const material: TlsMaterial = {
    directory,
    ca: readFileSync(caPath, 'utf8'),
    caPath,
    certPath: join(directory, 'server.crt'),
    keyPath: join(directory, 'server.key'),
    remove() {
      rmSync(directory, { recursive: true, force: true });
    },
    [Symbol.dispose]() {
      material.remove();
    },
  };
  return material;
}
