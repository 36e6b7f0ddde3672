/**
 * FETCH PREVIEW (RFC 8970): a short plain-text preview of a message: the first displayable text
 * part (text/plain preferred over text/html, attachments skipped), transfer- and
 * charset-decoded, HTML rendered as text by `html-to-text`, white space collapsed, at most
 * PREVIEW_CHARS characters (RFC 8970 §3: no more than 256).
 */
import { convert } from 'html-to-text';
import type { IndexEntry, MimePart, StoredMeta, UserStore } from '@rmb/librmb';
import { decodeText } from './binary.js';

/** Characters in a preview (Dovecot uses 200 too). */
export const PREVIEW_CHARS = 200;
/** Bytes of a text part read to build a preview. */
const PREVIEW_READ_BYTES = 64 * 1024;

function textPart(p: MimePart): MimePart | null {
  if (p.disposition?.type.toLowerCase() === 'attachment') return null;
  if (p.children) {
    // multipart/alternative: the plain alternative if there is one
    const kids =
      p.subtype === 'alternative'
        ? [...p.children].sort((a, b) => Number(b.subtype === 'plain') - Number(a.subtype === 'plain'))
        : p.children;
    for (const c of kids) {
      const t = textPart(c);
      if (t) return t;
    }
    return null;
  }
  if (p.type === 'text' && (p.subtype === 'plain' || p.subtype === 'html')) return p;
  return null;
}

/** The preview text of a mail ('' when it has no text part). One ranged read. */
export async function previewText(user: UserStore, e: IndexEntry, meta: StoredMeta): Promise<string> {
  const part = textPart(meta.root);
  if (!part) return '';
  const raw = await user.messageBytes(e, part.bodyStart, Math.min(part.bodyEnd - part.bodyStart, PREVIEW_READ_BYTES));
  let text = decodeText(raw, part, 'us-ascii');
  if (part.subtype === 'html') {
    text = convert(text, {
      wordwrap: false,
      selectors: [
        { selector: 'a', options: { ignoreHref: true } },
        { selector: 'img', format: 'skip' },
      ],
    });
  }
  const flat = text.replace(/\s+/g, ' ').trim();
  return [...flat].slice(0, PREVIEW_CHARS).join('');
}
