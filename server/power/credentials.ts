import { readFile } from 'node:fs/promises';
import type { Bmc } from '../model/machine.js';
import { PowerError } from './errors.js';

/**
 * The BMC password, read at each use so that a rotated passwordFile takes effect without a
 * restart. A trailing newline (as `echo` writes it) is not part of the password.
 */
export async function bmcPassword(bmc: Bmc, machineName: string): Promise<string> {
  if (bmc.password !== undefined) return bmc.password;
  if (bmc.passwordFile === undefined)
    throw new PowerError('config', `${machineName}: BMC driver ${bmc.driver} needs bmc.password or bmc.passwordFile`);
  try {
    return (await readFile(bmc.passwordFile, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new PowerError('config', `${machineName}: cannot read bmc.passwordFile ${bmc.passwordFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export function bmcUsername(bmc: Bmc, machineName: string): string {
  if (!bmc.username) throw new PowerError('config', `${machineName}: BMC driver ${bmc.driver} needs bmc.username`);
  return bmc.username;
}
