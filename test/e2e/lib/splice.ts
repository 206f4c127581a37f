import type { Socket } from 'node:net';

/** Two sockets joined both ways; either one failing or ending takes the other down. */
export function splice(a: Socket, b: Socket): void {
  a.pipe(b).pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end);
  b.on('error', end);
}
