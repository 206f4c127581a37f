/** The last `maxLines` lines and at most `maxChars` characters of a command log. */
export function tail(text: string, maxLines = 40, maxChars = 4000): string {
  const lines = text.replace(/\n+$/, '').split('\n');
  const kept = lines.slice(-maxLines).join('\n');
  return kept.length > maxChars ? kept.slice(-maxChars) : kept;
}
