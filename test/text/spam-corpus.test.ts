import { describe, expect, it } from 'vitest';
import { decodeEncodedWords, htmlToText, mailText } from '../../scripts/text/mail-text.ts';
import { readSpamAssassin, splitOf } from '../../scripts/text/spam-assassin.ts';

describe('the language of an e-mail', () => {
  it('keeps the subject and body and drops every other header', () => {
    const raw = [
      'From spammer@example.com  Thu Aug 22 13:17:22 2002',
      'Received: from relay.example.net (relay [10.1.2.3])',
      '\tby mx.example.org with ESMTP id 42',
      'Subject: Cheap',
      ' meds online',
      'Message-ID: <abc123@example.com>',
      'X-Mailer: Bulk Sender 9000',
      '',
      'Hello friend,',
      'order now.',
    ].join('\r\n');

    const mail = mailText(raw);

    expect(mail).toEqual({
      subject: 'Cheap meds online',
      body: 'Hello friend,\norder now.',
      messageId: 'abc123@example.com',
    });
  });

  it('decodes quoted-printable and base64 parts and reduces HTML to its text', () => {
    const html = Buffer.from(
      '<html><style>p{}</style><p>Buy&nbsp;<b>now</b> &amp; save&#33;</p></html>',
    ).toString('base64');
    const raw = [
      'Subject: =?iso-8859-1?Q?Gr=FC=DFe?=',
      'Content-Type: multipart/mixed; boundary="XYZ"',
      '',
      '--XYZ',
      'Content-Type: text/plain; charset=iso-8859-1',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'Caf=E9 au lait, long line=',
      ' continued',
      '--XYZ',
      'Content-Type: text/html',
      'Content-Transfer-Encoding: base64',
      '',
      html,
      '--XYZ',
      'Content-Type: image/gif',
      'Content-Transfer-Encoding: base64',
      '',
      'R0lGODlhAQABAAAAACw=',
      '--XYZ--',
    ].join('\n');

    const mail = mailText(raw);

    expect(mail.subject).toBe('Grüße');
    expect(mail.body).toContain('Café au lait, long line continued');
    expect(mail.body.replace(/\s+/g, ' ')).toContain('Buy now & save!');
    expect(mail.body).not.toContain('R0lGOD');
    expect(mail.body).not.toContain('p{}');
  });

  it('decodes base64 encoded words and plain entities', () => {
    expect(decodeEncodedWords('=?utf-8?B?SGVsbG8g8J+YgA==?= there')).toBe('Hello 😀 there');
    expect(htmlToText('a&lt;b&gt;c &unknown; &#x41;')).toBe('a<b>c &unknown; A');
  });
});

describe('the SpamAssassin corpus', () => {
  it('splits by message id, the same way every time, about 80/10/10', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => `<${i}.message@example.com>`);

    const splits = ids.map(splitOf);

    const share = (s: string) => splits.filter((x) => x === s).length / ids.length;
    expect(ids.map(splitOf)).toEqual(splits);
    expect(share('train')).toBeCloseTo(0.8, 1);
    expect(share('validation')).toBeCloseTo(0.1, 1);
    expect(share('test')).toBeCloseTo(0.1, 1);
  });

  it('reads labelled messages of every group, without routing headers', async () => {
    const messages = await readSpamAssassin(3);

    expect(messages).toHaveLength(15);
    expect(new Set(messages.map((m) => m.label))).toEqual(new Set(['ham', 'spam']));
    expect(messages.every((m) => !/^Received:/m.test(m.text) && !/^Return-Path:/m.test(m.text))).toBe(true);
    expect(messages[0]?.key).toBe('easy-ham-1/00001');
  });
});
