import { inflateSync } from 'node:zlib';

/**
 * Just enough of a PDF reader to check what PDFKit wrote, with no PDF library and no poppler: indirect
 * objects, Flate streams, the page tree, and text decoded through each font's ToUnicode CMap. It reads
 * uncompressed cross-reference tables and `N 0 obj … endobj` objects (PDFKit's output), not every PDF.
 */
export type PdfPage = Readonly<{
  /** The page's inflated content stream: drawing and text operators. */
  content: string;
  /** The text shown on the page, one line per text-showing operator, in drawing order. */
  text: string;
}>;

export type PdfDocument = Readonly<{ pages: readonly PdfPage[]; info: Readonly<Record<string, string>> }>;

type PdfObject = { dict: string; stream?: Buffer };

const readObjects = (pdf: Buffer): Map<number, PdfObject> => {
  const source = pdf.toString('latin1');
  const objects = new Map<number, PdfObject>();
  for (const match of source.matchAll(/(\d+) 0 obj\n([\s\S]*?)\nendobj/g)) {
    const body = match[2];
    const start = body.indexOf('\nstream\n');
    if (start === -1) {
      objects.set(Number(match[1]), { dict: body });
      continue;
    }
    const dict = body.slice(0, start);
    let stream = Buffer.from(body.slice(start + 8, body.lastIndexOf('\nendstream')), 'latin1');
    if (dict.includes('/FlateDecode')) stream = inflateSync(stream);
    objects.set(Number(match[1]), { dict, stream });
  }
  return objects;
};

const ref = (dict: string, key: string): number | undefined => {
  const match = new RegExp(`/${key} (\\d+) 0 R`).exec(dict);
  return match ? Number(match[1]) : undefined;
};

/** Code → text of a ToUnicode CMap (`bfrange` with arrays, as PDFKit writes, and `bfchar`). */
const readCmap = (cmap: string): Map<number, string> => {
  const map = new Map<number, string>();
  const utf16 = (hex: string) =>
    String.fromCharCode(
      ...hex
        .split(/\s+/)
        .filter(Boolean)
        .map((h) => parseInt(h, 16)),
    );
  for (const [, from, , list] of cmap.matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*\[([^\]]*)\]/g)) {
    [...list.matchAll(/<([^>]*)>/g)].forEach(([, hex], index) =>
      map.set(parseInt(from, 16) + index, utf16(hex)),
    );
  }
  for (const block of cmap.matchAll(/beginbfchar([\s\S]*?)endbfchar/g))
    for (const [, code, hex] of block[1].matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F\s]+)>/g))
      map.set(parseInt(code, 16), utf16(hex));
  return map;
};

/** Text of a content stream: `Tf` selects the font, `TJ`/`Tj` show 2-byte codes; a wide gap is a space. */
const readText = (content: string, fonts: Map<string, Map<number, string>>): string => {
  const lines: string[] = [];
  let cmap = new Map<number, string>();
  for (const [, font, shown] of content.matchAll(
    /\/(\w+) [\d.]+ Tf|(\[[^\]]*\]\s*TJ|<[0-9a-fA-F]*>\s*Tj)/g,
  )) {
    if (font !== undefined) {
      cmap = fonts.get(font) ?? new Map();
      continue;
    }
    let line = '';
    for (const [, hex, gap] of shown.matchAll(/<([0-9a-fA-F]*)>|(-?[\d.]+)/g)) {
      if (gap !== undefined) {
        if (Number(gap) < -200) line += ' ';
        continue;
      }
      for (let i = 0; i + 4 <= hex.length; i += 4)
        line += cmap.get(parseInt(hex.slice(i, i + 4), 16)) ?? '\uFFFD';
    }
    lines.push(line);
  }
  return lines.join('\n');
};

/** Pages (in order), their content and text, and the document's info strings. */
export const readPdf = (pdf: Buffer): PdfDocument => {
  const objects = readObjects(pdf);
  const get = (id: number | undefined): PdfObject => {
    const object = id === undefined ? undefined : objects.get(id);
    if (!object) throw new Error(`PDF: no object ${id}`);
    return object;
  };
  const trailer = pdf.toString('latin1', pdf.lastIndexOf('trailer'));
  const catalog = get(ref(trailer, 'Root'));
  const kids = /\/Kids \[([^\]]*)\]/.exec(get(ref(catalog.dict, 'Pages')).dict)?.[1] ?? '';
  const pages = [...kids.matchAll(/(\d+) 0 R/g)].map(([, id]) => {
    const page = get(Number(id));
    const resources =
      ref(page.dict, 'Resources') !== undefined ? get(ref(page.dict, 'Resources')).dict : page.dict;
    const fonts = new Map<string, Map<number, string>>();
    const fontDict = /\/Font <<([^>]*)>>/.exec(resources)?.[1] ?? '';
    for (const [, name, fontId] of fontDict.matchAll(/\/(\w+) (\d+) 0 R/g)) {
      const cmap = get(ref(get(Number(fontId)).dict, 'ToUnicode')).stream;
      fonts.set(name, readCmap(cmap?.toString('latin1') ?? ''));
    }
    const content = get(ref(page.dict, 'Contents')).stream?.toString('latin1') ?? '';
    return { content, text: readText(content, fonts) };
  });
  const infoId = ref(trailer, 'Info');
  const info: Record<string, string> = {};
  if (infoId !== undefined)
    for (const [, key, value] of get(infoId).dict.matchAll(/\/(\w+) (\d+ 0 R|\([^)]*\))/g)) {
      info[key] = value.startsWith('(')
        ? value.slice(1, -1)
        : (/\((.*)\)/.exec(get(Number(value.split(' ')[0])).dict)?.[1] ?? '');
    }
  return { pages, info };
};
