import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';

// Many byte streams over one pair of pipes (an SSH exec channel's stdout/stdin). Each virtual
// stream carries one plain HTTP/1.1 exchange, so node's own HTTP parser and server do all the
// protocol work (status, headers, Content-Length, streaming bodies, errors) on both ends; the
// multiplexer only adds what a single pipe lacks: concurrent requests without head-of-line
// blocking.
//
// Frame: u32 payload length, u32 stream id, u8 kind, payload (big endian). DATA carries bytes;
// END says the sender will write no more on that stream (half close).

const HEADER = 9;
const DATA = 0;
const END = 1;
/** largest payload per frame, so a large body does not delay the other streams' frames */
const MAX_PAYLOAD = 64 * 1024;

export class VirtualStream extends Duplex {
  ended = false;

  constructor(
    readonly id: number,
    private readonly mux: Mux
  ) {
    super({ allowHalfOpen: true });
  }

  override _read(): void {
    // data is pushed as frames arrive
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.mux.send(this.id, DATA, chunk, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.ended = true;
    this.mux.send(this.id, END, Buffer.alloc(0), done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (!this.ended) {
      this.ended = true;
      this.mux.send(this.id, END, Buffer.alloc(0), () => undefined);
    }
    this.mux.forget(this.id);
    done(err);
  }

  // node's HTTP server and client call these on net.Socket; a virtual stream has no socket options
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
}

export interface MuxEvents {
  stream: [VirtualStream];
  close: [Error | undefined];
}

export class Mux extends EventEmitter<MuxEvents> {
  private readonly streams = new Map<number, VirtualStream>();
  private pending: Buffer = Buffer.alloc(0);
  private nextId = 1;
  private closed = false;
  /** payload bytes received, for transfer accounting */
  bytesIn = 0;

  /**
   * @param output where frames are written (the channel's stdin, or stdout on the remote)
   * @param input where frames come from
   */
  constructor(
    private readonly output: NodeJS.WritableStream,
    input: NodeJS.ReadableStream
  ) {
    super();
    input.on('data', (chunk: Buffer) => this.receive(chunk));
    input.on('end', () => this.close());
    input.on('close', () => this.close());
    input.on('error', (err: Error) => this.close(err));
  }

  /** A new stream opened from this side. */
  open(): VirtualStream {
    if (this.closed) {
      throw new Error('connection closed');
    }
    const stream = new VirtualStream(this.nextId++, this);
    this.streams.set(stream.id, stream);
    return stream;
  }

  send(id: number, kind: number, payload: Buffer, done: (err?: Error | null) => void): void {
    if (this.closed) {
      done(new Error('connection closed'));
      return;
    }
    let offset = 0;
    do {
      const piece = payload.subarray(offset, offset + MAX_PAYLOAD);
      offset += piece.length;
      const header = Buffer.alloc(HEADER);
      header.writeUInt32BE(piece.length, 0);
      header.writeUInt32BE(id, 4);
      header.writeUInt8(kind, 8);
      const last = offset >= payload.length;
      this.output.write(Buffer.concat([header, piece]), last ? err => done(err) : undefined);
    } while (offset < payload.length);
  }

  forget(id: number): void {
    this.streams.delete(id);
  }

  close(err?: Error): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    for (const stream of this.streams.values()) {
      stream.destroy(err ?? new Error('connection closed'));
    }
    this.streams.clear();
    this.emit('close', err);
  }

  private receive(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= HEADER) {
      const length = this.pending.readUInt32BE(0);
      if (this.pending.length < HEADER + length) {
        return;
      }
      const id = this.pending.readUInt32BE(4);
      const kind = this.pending.readUInt8(8);
      const payload = this.pending.subarray(HEADER, HEADER + length);
      this.pending = this.pending.subarray(HEADER + length);
      this.bytesIn += HEADER + length;
      this.dispatch(id, kind, payload);
    }
  }

  private dispatch(id: number, kind: number, payload: Buffer): void {
    let stream = this.streams.get(id);
    if (!stream) {
      if (kind !== DATA) {
        return; // END of a stream this side already destroyed
      }
      // the peer opened a stream
      stream = new VirtualStream(id, this);
      this.streams.set(id, stream);
      this.emit('stream', stream);
    }
    if (kind === DATA) {
      stream.push(Buffer.from(payload));
    } else {
      stream.push(null);
      if (stream.ended) {
        this.streams.delete(id);
      }
    }
  }
}
