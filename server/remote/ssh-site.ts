import { backOff } from 'exponential-backoff';
import type { IncomingMessage } from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Client, type ConnectConfig } from 'ssh2';
import { HttpError } from '../http/errors.js';
import type { SshConfig } from '../jobs/sites.js';
import { requestOver, type SiteChannel } from './channel.js';
import { hostKeyProblem } from './known-hosts.js';
import { Mux } from './mux.js';

// A remote site: `nexus-server --stdio` started on the remote host over one SSH exec channel,
// with the user's key or agent, the host key checked against known_hosts. The connection is
// opened on the first request; when it is lost, requests under way fail with 502 and the next
// request reconnects (a few attempts with exponential backoff, then 503).

interface Connection {
  client: Client;
  mux: Mux;
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export class SshSite implements SiteChannel {
  private connection?: Promise<Connection>;
  /** bytes received over all connections (frames), for transfer accounting */
  private bytesBefore = 0;
  private current?: Mux;

  constructor(
    readonly name: string,
    private readonly ssh: SshConfig
  ) {}

  get bytesIn(): number {
    return this.bytesBefore + (this.current?.bytesIn ?? 0);
  }

  async get(pathAndQuery: string): Promise<IncomingMessage> {
    let connection: Connection;
    try {
      this.connection ??= backOff(() => this.connectOnce(), {
        numOfAttempts: 3,
        startingDelay: 300
      });
      connection = await this.connection;
    } catch (err) {
      this.connection = undefined;
      throw new HttpError(503, `Site ${this.name} is unreachable: ${messageOf(err)}`);
    }
    try {
      return await requestOver(connection.mux, pathAndQuery);
    } catch (err) {
      throw new HttpError(
        502,
        `Connection to site ${this.name} lost (${messageOf(err)}); the next request reconnects`
      );
    }
  }

  /** Drops the connection (the remote server exits with its channel). */
  close(): void {
    void this.connection?.then(c => c.client.end()).catch(() => undefined);
    this.connection = undefined;
  }

  private config(): ConnectConfig {
    const { host, port, user, identityFile } = this.ssh;
    const knownHosts = this.ssh.knownHosts ?? path.join(os.homedir(), '.ssh', 'known_hosts');
    const config: ConnectConfig = {
      host,
      port,
      username: user,
      readyTimeout: 15000,
      keepaliveInterval: 15000,
      hostVerifier: (key: Buffer) => {
        const problem = hostKeyProblem(knownHosts, host, port, key);
        if (problem) {
          this.refusal = problem;
        }
        return problem === undefined;
      }
    };
    if (identityFile) {
      config.privateKey = fs.readFileSync(identityFile);
      config.passphrase = process.env.NEXUS_SSH_PASSPHRASE || undefined;
    } else {
      config.agent = process.env.SSH_AUTH_SOCK;
    }
    return config;
  }

  private refusal?: string;

  private connectOnce(): Promise<Connection> {
    const command = [
      this.ssh.node,
      this.ssh.server,
      '--stdio',
      ...this.ssh.roots.flatMap(r => ['--root', r])
    ]
      .map(shellQuote)
      .join(' ');
    return new Promise((resolve, reject) => {
      const client = new Client();
      this.refusal = undefined;
      client.on('error', err => reject(new Error(this.refusal ?? err.message)));
      client.on('ready', () => {
        // small request frames must not wait for the previous segment's ACK (Nagle)
        client.setNoDelay(true);
        client.exec(command, (err, channel) => {
          if (err) {
            client.end();
            reject(err);
            return;
          }
          let stderr = '';
          channel.stderr.on('data', (d: Buffer) => {
            stderr = (stderr + d.toString()).slice(-2000);
          });
          // Frames are read from a pipe that ends only when the channel closes, by then with
          // the remote server's last stderr line (why it stopped) in hand.
          const frames = new PassThrough();
          channel.pipe(frames, { end: false });
          const mux = new Mux(channel, frames);
          this.current = mux;
          const lost = (): void => {
            // node ends a crash report with its version: the reason is the last error line
            const lines = stderr.trim().split('\n');
            const last = lines.filter(l => /error/i.test(l)).pop() ?? lines.pop();
            mux.close(new Error(last ? `remote server: ${last}` : 'connection closed'));
            if (this.current === mux) {
              this.bytesBefore += mux.bytesIn;
              this.current = undefined;
              this.connection = undefined;
            }
            client.end();
          };
          channel.on('close', lost);
          client.on('close', lost);
          resolve({ client, mux });
        });
      });
      client.connect(this.config());
    });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
