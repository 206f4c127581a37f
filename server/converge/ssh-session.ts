import { randomBytes } from 'node:crypto';
import { Client, type ClientChannel } from 'ssh2';
import { ConnectError, classifyConnectError } from './errors.js';
import { fingerprint, hostKeyAlgorithms, isPinned, parsePinnedKeys } from './host-keys.js';
import type { ExecResult, SshTarget } from './types.js';

/** A command outlived its time: its channel was closed (remoteCommand's `timeout` ends it there). */
export class ExecTimeout extends Error {
  constructor(command: string, ms: number) {
    super(`timed out after ${Math.round(ms / 1000)}s: ${command.slice(0, 120)}`);
    this.name = 'ExecTimeout';
  }
}

/** One authenticated SSH connection to a host whose key is pinned; the socket side of the converger. */
export class SshSession {
  /** Settles when the connection is gone, for whatever reason. */
  readonly closed: Promise<void>;

  private gone = false;

  private constructor(private readonly client: Client) {
    this.closed = new Promise((resolve) =>
      client.once('close', () => {
        this.gone = true;
        resolve();
      }),
    );
  }

  /** One connection attempt; rejects with a classified ConnectError. */
  static open(target: SshTarget, timeoutMs: number): Promise<SshSession> {
    const port = target.port ?? 22;
    const facts = { where: `${target.host}:${port}`, user: target.user, timeoutMs, pinnedCount: 0, refusedHostKey: undefined as string | undefined };
    let pinned;
    try {
      pinned = parsePinnedKeys(target.pinnedHostKeys);
    } catch (err) {
      return Promise.reject(new ConnectError('host-key-mismatch', `${facts.where}: pinned host key unusable: ${(err as Error).message}`));
    }
    facts.pinnedCount = pinned.length;
    const algorithms = hostKeyAlgorithms(pinned);
    if (algorithms.length === 0)
      return Promise.reject(
        new ConnectError('host-key-mismatch', `${facts.where}: no usable host key was reported for this install; refusing to trust a key on first use`),
      );

    return new Promise((resolve, reject) => {
      const client = new Client();
      let settled = false;
      const fail = (err: { code?: unknown; level?: unknown; message?: string }) => {
        if (settled) return;
        settled = true;
        client.end();
        reject(classifyConnectError(err, facts));
      };
      client.once('ready', () => {
        settled = true;
        client.on('error', () => {}); // later errors surface as channel failures and 'close'
        resolve(new SshSession(client));
      });
      client.on('error', fail);
      client.once('close', () => fail({ code: 'ECONNRESET', message: 'connection closed during the SSH handshake' }));
      try {
        client.connect({
          host: target.host,
          port,
          username: target.user,
          privateKey: target.privateKey,
          readyTimeout: Math.max(1, timeoutMs),
          algorithms: { serverHostKey: algorithms as never },
          hostVerifier: (key: Buffer) => {
            if (isPinned(pinned, key)) return true;
            facts.refusedHostKey = fingerprint(key);
            return false;
          },
          // A host that dies without closing the TCP connection is noticed within a minute.
          keepaliveInterval: 15_000,
          keepaliveCountMax: 4,
        });
      } catch (err) {
        // ssh2 throws here for a key it cannot read: no retry will fix that.
        settled = true;
        reject(new ConnectError('auth', `${facts.where}: kickstand's private key is unusable: ${(err as Error).message}`));
      }
    });
  }

  /** Runs a command line. Resolves code null when the connection drops first (a reboot does that). */
  exec(command: string, timeoutMs: number): Promise<ExecResult> {
    // The connection going away between commands means the same as a drop mid-command.
    const dropped: ExecResult = { code: null, stdout: '', stderr: 'connection closed' };
    if (this.gone) return Promise.resolve(dropped);
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, channel) => {
        if (err) return this.gone ? resolve(dropped) : reject(err);
        collect(channel, command, timeoutMs).then(resolve, reject);
      });
    });
  }

  /**
   * Writes content to a fresh file under /tmp as the login user (exclusive create, mode 0600, so a
   * planted symlink cannot redirect it); the caller moves it into place with the right owner.
   */
  upload(content: Buffer, timeoutMs: number): Promise<string> {
    const path = `/tmp/.kickstand-${randomBytes(12).toString('hex')}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new ExecTimeout(`sftp upload to ${path}`, timeoutMs)), timeoutMs);
      const done = (err?: Error | null) => {
        clearTimeout(timer);
        if (err) reject(new Error(`sftp upload failed: ${err.message}`));
        else resolve(path);
      };
      this.client.sftp((err, sftp) => {
        if (err) return done(err);
        sftp.writeFile(path, content, { flag: 'wx', mode: 0o600 }, (werr) => {
          sftp.end();
          done(werr);
        });
      });
    });
  }

  end(): void {
    this.client.end();
  }
}

function collect(channel: ClientChannel, command: string, timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let code: number | null = null;
    let signal: string | undefined;
    const timer = setTimeout(() => {
      channel.close();
      reject(new ExecTimeout(command, timeoutMs));
    }, timeoutMs);
    channel.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    channel.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    channel.on('exit', (c: number | null, sig?: string) => {
      code = c;
      signal = sig ?? undefined;
    });
    channel.on('close', () => {
      clearTimeout(timer);
      resolve(signal === undefined ? { code, stdout, stderr } : { code, signal, stdout, stderr });
    });
  });
}
