import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Random access to the bytes of an audio file, whether it sits in memory (a request body) or on disk
 * (a long recording that must not be read whole).
 */
export interface ByteSource {
  /** Total length in bytes. */
  readonly size: number;
  /**
   * Up to `length` bytes from `offset` (fewer only at the end). The result may be a view of an internal
   * buffer that the next call overwrites: copy what must outlive it.
   */
  read(offset: number, length: number): Uint8Array;
}

/** A {@link ByteSource} over bytes in memory; reads are views, never copies. */
export function memoryByteSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.byteLength,
    read: (offset, length) => bytes.subarray(offset, Math.min(bytes.byteLength, offset + length)),
  };
}

/** A {@link ByteSource} over an open file; close it when done. */
export interface FileByteSource extends ByteSource {
  close(): void;
}

/**
 * Opens a file for random access with one reusable read buffer, so a recording of any length is read in
 * bounded memory.
 *
 * @example
 * ```ts
 * const file = openFileByteSource('call.wav');
 * try { const audio = decodeAudio(file); } finally { file.close(); }
 * ```
 */
export function openFileByteSource(path: string): FileByteSource {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  let buffer = new Uint8Array(64 * 1024);
  return {
    size,
    read(offset, length) {
      const wanted = Math.max(0, Math.min(length, size - offset));
      if (buffer.byteLength < wanted) buffer = new Uint8Array(wanted);
      let done = 0;
      while (done < wanted) {
        const n = readSync(fd, buffer, done, wanted - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return buffer.subarray(0, done);
    },
    close: () => closeSync(fd),
  };
}
