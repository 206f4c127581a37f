/**
 * Text from machines (installer progress, log tails) reaches operators' terminals and pages:
 * C0 and C1 control characters (escape sequences among them) are dropped, keeping newlines and
 * tabs only where multi-line text is expected.
 */
export function printable(text: string, opts: { multiline?: boolean } = {}): string {
  return opts.multiline ? text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '') : text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}
