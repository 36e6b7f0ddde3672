/**
 * Folder names and special-use: a source folder keeps its name in rmb (clients and their caches
 * refer to folders by name), with the source's delimiter turned into rmb's "/" and a "/" inside a
 * name (legal where the delimiter is ".") turned into the alt character. The special-use
 * attribute comes from the source's SPECIAL-USE, else from a table of localized names (the names
 * Exchange, Outlook, Apple Mail and webmailers give their folders in many languages).
 */

/** Localized names of special-use folders (compared case-insensitively, last hierarchy level). */
export const LOCALIZED_SPECIAL_USE: Record<string, string[]> = {
  '\\Sent': [
    'sent',
    'sent items',
    'sent messages',
    'sent mail',
    'gesendet',
    'gesendete elemente',
    'gesendete objekte',
    'éléments envoyés',
    'messages envoyés',
    'envoyés',
    'elementos enviados',
    'enviados',
    'posta inviata',
    'inviati',
    'elementy wysłane',
    'verzonden items',
    'skickat',
    'отправленные',
  ],
  '\\Trash': [
    'trash',
    'deleted items',
    'deleted messages',
    'papierkorb',
    'gelöschte elemente',
    'gelöschte objekte',
    'éléments supprimés',
    'corbeille',
    'elementos eliminados',
    'papelera',
    'posta eliminata',
    'cestino',
    'kosz',
    'verwijderde items',
    'удаленные',
  ],
  '\\Junk': [
    'junk',
    'junk e-mail',
    'junk email',
    'junk mail',
    'spam',
    'bulk mail',
    'junk-e-mail',
    'spamverdacht',
    'courrier indésirable',
    'correo no deseado',
    'posta indesiderata',
    'potwierdzony spam',
    'ongewenste e-mail',
  ],
  '\\Drafts': ['drafts', 'entwürfe', 'brouillons', 'borradores', 'bozze', 'szkice', 'wersje robocze', 'concepten'],
  '\\Archive': ['archive', 'archiv', 'archives', 'archivo', 'archivio', 'archiwum', 'archief'],
};

const byName = new Map<string, string>();
for (const [use, names] of Object.entries(LOCALIZED_SPECIAL_USE)) for (const n of names) byName.set(n, use);

/** The special-use a folder name suggests (top level only), or null. */
export function specialUseByName(name: string, delimiter: string | null): string | null {
  if (delimiter && name.includes(delimiter)) return null;
  return byName.get(name.toLowerCase()) ?? null;
}

/**
 * The rmb name of a source folder: hierarchy levels split on the source's delimiter, a "/" inside
 * a level replaced by `altChar`, joined with "/"; "inbox" in any case is INBOX.
 */
export function rmbName(name: string, delimiter: string | null, altChar = '_'): string {
  const levels = delimiter ? name.split(delimiter) : [name];
  const out = levels.map((l) => l.replace(/\//g, altChar)).join('/');
  return out.toUpperCase() === 'INBOX' ? 'INBOX' : out;
}
