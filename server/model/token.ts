/** The secret of one install: kickstart/Ignition fetches and installer callbacks carry it. */
export interface InstallToken {
  token: string;
  machine: string;
  installId: string;
  expiresAt: number;
}
