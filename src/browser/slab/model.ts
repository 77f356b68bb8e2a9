// The slab control's state: what the open file offers (a raw scan with geometry or a volume), the
// current request and its latest result. A new request cancels the previous one on the server;
// results arrive by long-polling GET /slabs/:id (the server holds each poll until a newer result).
import { URLExt } from '@jupyterlab/coreutils';
import { Signal, type ISignal } from '@lumino/signaling';

import {
  decodeSlabSnapshot,
  type SlabInfo,
  type SlabRequest,
  type SlabSnapshot,
  type SlabSource
} from '../../protocol/slabs';
import { requestInit } from '../fetcher';

export interface ISlabResult {
  info: SlabInfo;
  snapshot: SlabSnapshot;
  /** v/n (NaN where n = 0), resolution[1] rows × resolution[0] columns */
  image: Float32Array;
  v: Float32Array;
  n: Float32Array;
}

async function failure(response: Response): Promise<Error> {
  let message = `${response.status} ${response.statusText}`;
  try {
    message = ((await response.json()) as { message?: string }).message ?? message;
  } catch {
    // not JSON: keep the status line
  }
  return new Error(message);
}

export class SlabModel {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    readonly file: string
  ) {}

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get source(): SlabSource | null {
    return this._source;
  }

  get result(): ISlabResult | null {
    return this._result;
  }

  get error(): string | null {
    return this._error;
  }

  get running(): boolean {
    return this._result?.snapshot.state === 'running';
  }

  async loadSource(): Promise<void> {
    try {
      this._source = await this.json<SlabSource>(
        `slabs/source?${new URLSearchParams({ file: this.file })}`
      );
    } catch (e) {
      this._source = { kind: null, reason: (e as Error).message };
    }
    this._changed.emit();
  }

  /** Starts a slab; the previous one is cancelled first. */
  async compute(request: Omit<SlabRequest, 'file'>): Promise<void> {
    await this.cancel();
    const generation = ++this._generation;
    this._error = null;
    try {
      const info = await this.json<SlabInfo>('slabs', {
        method: 'POST',
        body: JSON.stringify({ ...request, file: this.file })
      });
      let seq = -1;
      for (;;) {
        if (generation !== this._generation) {
          return;
        }
        const response = await fetch(
          this.url(`slabs/${info.id}?after=${seq}`),
          requestInit(this.token)
        );
        if (!response.ok) {
          throw await failure(response);
        }
        const { header, v, n } = decodeSlabSnapshot(await response.arrayBuffer());
        if (generation !== this._generation) {
          return;
        }
        seq = header.seq;
        const image = new Float32Array(v.length);
        for (let i = 0; i < v.length; i++) {
          image[i] = n[i] > 0 ? v[i] / n[i] : NaN;
        }
        this._result = { info, snapshot: header, image, v, n };
        this._error = header.state === 'failed' ? (header.message ?? 'failed') : null;
        this._changed.emit();
        if (header.state !== 'running') {
          return;
        }
      }
    } catch (e) {
      if (generation === this._generation) {
        this._error = (e as Error).message;
        this._changed.emit();
      }
    }
  }

  async cancel(): Promise<void> {
    const current = this._result;
    this._generation++;
    if (current?.snapshot.state === 'running') {
      await fetch(this.url(`slabs/${current.info.id}`), {
        ...requestInit(this.token),
        method: 'DELETE'
      });
      this._result = { ...current, snapshot: { ...current.snapshot, state: 'cancelled' } };
      this._changed.emit();
    }
  }

  /** Writes the slab next to the source file; returns the new file's path. */
  async save(): Promise<string> {
    const { file } = await this.json<{ file: string }>(`slabs/${this.requireResult()}/save`, {
      method: 'POST'
    });
    const folder = this.file.includes('/') ? this.file.slice(0, this.file.lastIndexOf('/')) : '';
    return folder ? `${folder}/${file}` : file;
  }

  async code(): Promise<string> {
    return (await this.json<{ code: string }>(`slabs/${this.requireResult()}/code`)).code;
  }

  dispose(): void {
    void this.cancel();
  }

  private requireResult(): string {
    if (!this._result) {
      throw new Error('no slab yet');
    }
    return this._result.info.id;
  }

  private url(path: string): string {
    return URLExt.join(this.baseUrl, path);
  }

  private async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const base = requestInit(this.token);
    const response = await fetch(this.url(path), {
      ...base,
      ...init,
      headers: { ...(base.headers ?? {}), 'Content-Type': 'application/json' }
    });
    if (!response.ok) {
      throw await failure(response);
    }
    return (await response.json()) as T;
  }

  private _source: SlabSource | null = null;
  private _result: ISlabResult | null = null;
  private _error: string | null = null;
  private _generation = 0;
  private _changed = new Signal<this, void>(this);
}
