// The camera kiosk's page as the kiosk-page node serves it: the page shipped in this package
// (examples/kiosk/kiosk.html) or a user's restyled copy, with the address it posts photos to
// written into its <meta name="kiosk-endpoint"> tag. The shipped page is found from this
// compiled file, never from the working directory, so a palette install serves it too.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { escapeMarkup } from '../markup';

/** What a kiosk page serves. */
export interface KioskPageOptions {
  /** '' for the shipped page; else a path to a copy, relative to the base folder (Node-RED's user directory) or absolute. */
  file: string;
  /**
   * The URL the page posts photos to: relative to the page's address (a trailing slash of that
   * address ignored, so /kiosk and /kiosk/ both post to /kiosk/age) or absolute.
   */
  endpoint: string;
}

/** The defaults: the shipped page, posting beside itself, so it works under any httpNodeRoot. */
export const KIOSK_PAGE_DEFAULTS: Readonly<KioskPageOptions> = { file: '', endpoint: 'kiosk/age' };

/** The page shipped in the package: dist/lib/kiosk/ is three folders below the package root. */
export const SHIPPED_KIOSK_PAGE = resolve(__dirname, '..', '..', '..', 'examples', 'kiosk', 'kiosk.html');

/** Longest endpoint accepted, characters (a URL, not a document). */
const ENDPOINT_MAX = 2048;

/**
 * Checks and completes kiosk page settings; an empty endpoint takes the default.
 * @throws {TypeError|RangeError} naming the setting and the value received
 * @example validateKioskPageOptions({ endpoint: '' }) // { file: '', endpoint: 'kiosk/age' }
 */
export function validateKioskPageOptions(options: { file?: unknown; endpoint?: unknown } = {}): KioskPageOptions {
  const file = options.file ?? KIOSK_PAGE_DEFAULTS.file;
  const endpoint = options.endpoint === undefined || options.endpoint === '' ? KIOSK_PAGE_DEFAULTS.endpoint : options.endpoint;
  if (typeof file !== 'string') throw new TypeError(`Expected file to be a path or empty but received ${typeof file}`);
  if (typeof endpoint !== 'string' || !/^\S+$/.test(endpoint) || endpoint.length > ENDPOINT_MAX) {
    throw new RangeError(`Expected endpoint to be a URL without spaces (at most ${ENDPOINT_MAX} characters), such as ${KIOSK_PAGE_DEFAULTS.endpoint}, but received ${JSON.stringify(endpoint)}`);
  }
  return { file: file.trim(), endpoint };
}

/** Why a page could not be served; `reason` is the file system's code (ENOENT, EACCES, EISDIR, ...) or EEMPTY. */
export class KioskPageError extends Error {
  readonly code = 'ENOPAGE';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`Cannot read the kiosk page ${path} (${reason})`);
    this.name = 'KioskPageError';
  }
}

/** The endpoint tag; its attributes in any order. */
const ENDPOINT_TAG = /<meta\b[^>]*?\bname\s*=\s*["']?kiosk-endpoint["']?(?=[\s/>])[^>]*>/i;
const CONTENT = /\bcontent\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]*)/i;

/**
 * Writes the endpoint into a page's `<meta name="kiosk-endpoint" content="...">` tag.
 * @returns the page, and whether it had the tag (without it the page is returned as it was)
 */
export function fillEndpoint(html: string, endpoint: string): { html: string; filled: boolean } {
  const tag = ENDPOINT_TAG.exec(html);
  if (!tag) return { html, filled: false };
  const attribute = `content="${escapeMarkup(endpoint)}"`;
  const filled = CONTENT.test(tag[0]) ? tag[0].replace(CONTENT, () => attribute) : tag[0].replace(/\s*\/?>$/, (end) => ` ${attribute}${end.trim()}`);
  return { html: html.slice(0, tag.index) + filled + html.slice(tag.index + tag[0].length), filled: true };
}

/** A page to serve: the shipped one, read once, or a user's file, read on every request so an edit shows at once. */
export class KioskPage {
  /** The absolute path of the page served. */
  readonly path: string;
  /** Whether it is the page shipped in the package. */
  readonly shipped: boolean;
  private cached: Promise<{ html: string; filled: boolean }> | undefined;

  /**
   * @param options checked settings (see validateKioskPageOptions)
   * @param baseDir the folder a relative `file` is taken from (Node-RED's user directory)
   */
  constructor(
    readonly options: KioskPageOptions,
    baseDir: string,
  ) {
    this.shipped = options.file === '';
    this.path = this.shipped ? SHIPPED_KIOSK_PAGE : resolve(baseDir, options.file);
  }

  /**
   * The page with its endpoint filled in.
   * @returns the HTML, and whether the page had the endpoint tag
   * @throws {KioskPageError} ENOPAGE when the file is missing, unreadable or empty
   */
  read(): Promise<{ html: string; filled: boolean }> {
    if (!this.shipped) return this.load();
    this.cached ??= this.load();
    // A failed read of the shipped page (a broken install) is tried again next time.
    this.cached.catch(() => (this.cached = undefined));
    return this.cached;
  }

  private async load(): Promise<{ html: string; filled: boolean }> {
    let html: string;
    try {
      html = await readFile(this.path, 'utf8');
    } catch (err) {
      throw new KioskPageError(this.path, (err as { code?: string }).code ?? 'EIO');
    }
    if (html.trim() === '') throw new KioskPageError(this.path, 'EEMPTY');
    return fillEndpoint(html, this.options.endpoint);
  }
}
