/** Hand-built WAV files, well-formed or deliberately broken, for decoder and endpoint tests. */

/** How to lay out a WAV file; every field can be set to a wrong value on purpose. */
export interface WavLayout {
  /** 1 PCM, 3 float, 6 A-law, 7 mu-law, 0xfffe extensible (then `subFormat` is the real one). */
  readonly formatTag?: number;
  readonly subFormat?: number;
  readonly channels?: number;
  readonly sampleRate?: number;
  readonly bitsPerSample?: number;
  /** Default: channels × bits / 8. */
  readonly blockAlign?: number;
  /** The data chunk's contents. */
  readonly data: Uint8Array;
  /** Declared data size; default the real one. */
  readonly dataSize?: number;
  /** Declared RIFF size; default the real one. */
  readonly riffSize?: number;
  /** Put the data chunk before fmt. */
  readonly dataFirst?: boolean;
  /** Chunks to put before fmt (e.g. LIST metadata). */
  readonly extraChunks?: readonly { id: string; body: Uint8Array }[];
}

function chunk(id: string, body: Uint8Array, declared = body.byteLength): Uint8Array {
  const out = new Uint8Array(8 + body.byteLength + (body.byteLength % 2));
  out.set(Buffer.from(id, 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, declared >>> 0, true);
  out.set(body, 8);
  return out;
}

/** Encodes a WAV file as laid out. */
export function wavBytes(layout: WavLayout): Uint8Array {
  const channels = layout.channels ?? 1;
  const bits = layout.bitsPerSample ?? 16;
  const tag = layout.formatTag ?? 1;
  const fmt = new Uint8Array(tag === 0xfffe ? 40 : 16);
  const v = new DataView(fmt.buffer);
  const rate = layout.sampleRate ?? 16000;
  const blockAlign = layout.blockAlign ?? (channels * bits) / 8;
  v.setUint16(0, tag, true);
  v.setUint16(2, channels, true);
  v.setUint32(4, rate, true);
  v.setUint32(8, rate * blockAlign, true);
  v.setUint16(12, blockAlign, true);
  v.setUint16(14, bits, true);
  if (tag === 0xfffe) {
    v.setUint16(16, 22, true);
    v.setUint16(18, bits, true);
    v.setUint32(20, channels === 1 ? 0x4 : 0x3, true);
    v.setUint16(24, layout.subFormat ?? 1, true);
    fmt.set([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 26);
  }
  const fmtChunk = chunk('fmt ', fmt);
  const dataChunk = chunk('data', layout.data, layout.dataSize);
  const extra = (layout.extraChunks ?? []).map((c) => chunk(c.id, c.body));
  const body = Buffer.concat([
    Buffer.from('WAVE', 'latin1'),
    ...extra,
    ...(layout.dataFirst ? [dataChunk, fmtChunk] : [fmtChunk, dataChunk]),
  ]);
  const header = new Uint8Array(8);
  header.set(Buffer.from('RIFF', 'latin1'));
  new DataView(header.buffer).setUint32(4, layout.riffSize ?? body.byteLength, true);
  return new Uint8Array(Buffer.concat([header, body]));
}

/** Encodes float samples in [-1, 1] as interleaved PCM of the given bits (8 unsigned, 16/24/32 signed). */
export function pcmData(frames: readonly (readonly number[])[], bits: 8 | 16 | 24 | 32): Uint8Array {
  const channels = frames[0]?.length ?? 1;
  const bytes = bits / 8;
  const out = new Uint8Array(frames.length * channels * bytes);
  const v = new DataView(out.buffer);
  let p = 0;
  for (const frame of frames) {
    for (const x of frame) {
      const clamp = (max: number) => Math.max(-max, Math.min(max - 1, Math.round(x * max)));
      if (bits === 8) v.setUint8(p, clamp(128) + 128);
      else if (bits === 16) v.setInt16(p, clamp(32768), true);
      else if (bits === 24) {
        const s = clamp(8388608);
        v.setUint16(p, s & 0xffff, true);
        v.setInt8(p + 2, s >> 16);
      } else v.setInt32(p, clamp(2147483648), true);
      p += bytes;
    }
  }
  return out;
}

/** Encodes float samples as interleaved IEEE float of 32 or 64 bits. */
export function floatData(frames: readonly (readonly number[])[], bits: 32 | 64): Uint8Array {
  const channels = frames[0]?.length ?? 1;
  const out = new Uint8Array(frames.length * channels * (bits / 8));
  const v = new DataView(out.buffer);
  let p = 0;
  for (const frame of frames)
    for (const x of frame) {
      if (bits === 32) v.setFloat32(p, x, true);
      else v.setFloat64(p, x, true);
      p += bits / 8;
    }
  return out;
}
