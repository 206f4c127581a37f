export async function serve(_configFile?: string): Promise<number> {
  throw new Error('not wired yet');
}
