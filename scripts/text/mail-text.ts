/**
 * The language of an e-mail without its routing: the Subject and the text of the body, with every other
 * header dropped, MIME parts walked, quoted-printable and base64 decoded and HTML reduced to its text.
 */

/** The subject and the readable body of a raw RFC 822 message. */
export interface MailText {
  readonly subject: string;
  readonly body: string;
  /** The Message-ID header, without angle brackets; '' when absent. */
  readonly messageId: string;
}

interface Part {
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** Splits a message (or MIME part) at its first blank line into unfolded, lower-cased headers and body. */
function splitPart(raw: string): Part {
  const text = raw.replace(/\r\n/g, '\n');
  const blank = text.indexOf('\n\n');
  const head = blank < 0 ? text : text.slice(0, blank);
  const body = blank < 0 ? '' : text.slice(blank + 2);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

/** A parameter of a structured header, e.g. `boundary` of Content-Type. */
function headerParameter(value: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value);
  return match ? (match[1] ?? match[2]) : undefined;
}

function decodeBytes(bytes: Uint8Array, charset: string | undefined): string {
  try {
    return new TextDecoder(charset || 'latin1').decode(bytes);
  } catch {
    // An unknown or misspelt charset: latin1 keeps every byte as a character.
    return new TextDecoder('latin1').decode(bytes);
  }
}

function quotedPrintableBytes(text: string): Uint8Array {
  const softBreaksRemoved = text.replace(/=\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < softBreaksRemoved.length; i++) {
    const c = softBreaksRemoved.charCodeAt(i);
    const hex = softBreaksRemoved.slice(i + 1, i + 3);
    if (c === 0x3d && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      out.push(Number.parseInt(hex, 16));
      i += 2;
    } else out.push(c & 0xff);
  }
  return Uint8Array.from(out);
}

/** Decodes RFC 2047 encoded words (`=?charset?Q|B?...?=`) in a header value. */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[bqBQ]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([bqBQ])\?([^?]*)\?=/g, (_all, charset: string, encoding: string, text: string) => {
      const bytes =
        encoding.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : quotedPrintableBytes(text.replace(/_/g, ' '));
      return decodeBytes(bytes, charset);
    });
}

const ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The visible text of an HTML document: no scripts, styles, comments or tags; entities decoded. */
export function htmlToText(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<(br|p|div|tr|li|h[1-6])\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (all, entity: string) => {
      if (entity[0] === '#') {
        const code =
          entity[1] === 'x' || entity[1] === 'X'
            ? Number.parseInt(entity.slice(2), 16)
            : Number(entity.slice(1));
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ' ';
      }
      return ENTITIES[entity.toLowerCase()] ?? all;
    });
}

/** The text of one part, recursing into multiparts; non-text parts (images, attachments) give ''. */
function partText(part: Part, depth: number): string {
  const contentType = part.headers.get('content-type') ?? 'text/plain';
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? 'text/plain';
  if (mediaType.startsWith('multipart/')) {
    const boundary = headerParameter(contentType, 'boundary');
    if (!boundary || depth > 8) return '';
    const pieces = part.body.split(`--${boundary}`).slice(1);
    const texts: string[] = [];
    for (const piece of pieces) {
      if (piece.startsWith('--')) break;
      const text = partText(splitPart(piece.replace(/^[^\n]*\n/, '')), depth + 1);
      if (text.trim()) texts.push(text);
    }
    // An alternative holds one text in several forms: keep the plain one when there is one.
    return mediaType === 'multipart/alternative' ? (texts[0] ?? '') : texts.join('\n');
  }
  if (mediaType === 'message/rfc822') return depth > 8 ? '' : mailText(part.body).body;
  if (!mediaType.startsWith('text/')) return '';
  const encoding = (part.headers.get('content-transfer-encoding') ?? '').toLowerCase();
  const charset = headerParameter(contentType, 'charset');
  let text: string;
  if (encoding === 'base64')
    text = decodeBytes(Buffer.from(part.body.replace(/\s+/g, ''), 'base64'), charset);
  else if (encoding === 'quoted-printable') text = decodeBytes(quotedPrintableBytes(part.body), charset);
  else text = part.body;
  return mediaType === 'text/html' ? htmlToText(text) : text;
}

/**
 * The subject and readable body of a raw message.
 *
 * @example
 * ```ts
 * mailText('From: a@b\nSubject: Hi\n\nHello there\n'); // { subject: 'Hi', body: 'Hello there\n', messageId: '' }
 * ```
 */
export function mailText(raw: string): MailText {
  const message = splitPart(raw);
  return {
    subject: decodeEncodedWords(message.headers.get('subject') ?? ''),
    body: partText(message, 0),
    messageId: (message.headers.get('message-id') ?? '').replace(/^<|>$/g, '').trim(),
  };
}
