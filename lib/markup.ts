// One escape for text put into markup: the kiosk page's HTML attributes and the SVG labels
// drawn on images.

/** Escapes `<`, `>`, `&` and both quotes, so `text` is safe as element text or inside a quoted attribute of HTML or XML. */
export function escapeMarkup(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&quot;' })[c] as string);
}
