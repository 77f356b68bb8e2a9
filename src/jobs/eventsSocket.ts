import { URLExt } from '@jupyterlab/coreutils';
import type { ServerConnection } from '@jupyterlab/services';
import { Signal, type ISignal } from '@lumino/signaling';
import { backOff } from 'exponential-backoff';

import type { JobEvent } from '../protocol/jobs';
import type { PipelineEvent } from '../protocol/pipelines';
import type { FileChangedEvent } from '../protocol/sites';
import { SERVER_PREFIX } from '../tokens';

/** A connection that lasted this long was a real one (ms). */
const STABLE_MS = 10000;

/** Everything the companion server pushes on `/events`. */
export type ServerEvent = JobEvent | PipelineEvent | FileChangedEvent;

export interface IEventsSocketOptions {
  serverSettings: ServerConnection.ISettings;
  /** longest wait between two reconnection attempts, in ms */
  maxDelay?: number;
}

/**
 * The companion server's `/events` WebSocket, reached through the jupyter-server-proxy route and
 * reopened whenever it closes. Messages pushed while it was closed are lost, so
 * `connectionChanged` fires `true` on every (re)connection: listeners re-read the state they show.
 */
export class EventsSocket {
  constructor(options: IEventsSocketOptions) {
    this._serverSettings = options.serverSettings;
    this._maxDelay = options.maxDelay ?? 30000;
    void this._connect();
  }

  get message(): ISignal<this, ServerEvent> {
    return this._message;
  }

  get connectionChanged(): ISignal<this, boolean> {
    return this._connectionChanged;
  }

  get isConnected(): boolean {
    return !!this._socket && this._socket.readyState === this._socket.OPEN;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._socket?.close();
    Signal.clearData(this);
  }

  private async _connect(): Promise<void> {
    try {
      this._socket = await backOff(() => this._open(), {
        numOfAttempts: Number.MAX_SAFE_INTEGER,
        // jupyter-server-proxy accepts the browser's socket before it reaches the companion
        // server, so a server that is down looks like a socket that opens and closes at once:
        // those closes count as failed attempts too.
        delayFirstAttempt: this._shortLived > 0,
        startingDelay: Math.min(500 * 2 ** this._shortLived, this._maxDelay),
        maxDelay: this._maxDelay,
        jitter: 'full',
        retry: () => !this._disposed
      });
    } catch {
      return; // disposed while reconnecting
    }
    const opened = Date.now();
    this._socket.onmessage = event => this._onMessage(event);
    this._socket.onclose = () => {
      if (!this._disposed) {
        this._shortLived = Date.now() - opened < STABLE_MS ? this._shortLived + 1 : 0;
        this._connectionChanged.emit(false);
        void this._connect();
      }
    };
    this._connectionChanged.emit(true);
  }

  /** Resolves with an open socket, rejects if it closes before opening. */
  private _open(): Promise<WebSocket> {
    if (this._disposed) {
      return Promise.reject(new Error('disposed'));
    }
    const settings = this._serverSettings;
    let url = URLExt.join(settings.wsUrl, SERVER_PREFIX, 'events');
    // The Jupyter way: browsers cannot set headers on a WebSocket, so the token (when the page
    // has one; otherwise the login cookie) travels as a query parameter.
    if (settings.appendToken && settings.token) {
      url += `?token=${encodeURIComponent(settings.token)}`;
    }
    return new Promise((resolve, reject) => {
      const socket = new settings.WebSocket(url);
      socket.onopen = () => resolve(socket);
      socket.onclose = () => reject(new Error(`${url} closed before opening`));
    });
  }

  private _onMessage(event: MessageEvent): void {
    let parsed: ServerEvent;
    try {
      parsed = JSON.parse(String(event.data)) as ServerEvent;
    } catch {
      console.warn('jupyterlab-nexus: ignored a non-JSON /events message');
      return;
    }
    this._message.emit(parsed);
  }

  private readonly _serverSettings: ServerConnection.ISettings;
  private readonly _maxDelay: number;
  private _socket: WebSocket | null = null;
  private _disposed = false;
  /** connections in a row that closed within STABLE_MS of opening */
  private _shortLived = 0;
  private readonly _message = new Signal<this, ServerEvent>(this);
  private readonly _connectionChanged = new Signal<this, boolean>(this);
}
