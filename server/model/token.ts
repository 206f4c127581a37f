/** The secret of one install: kickstart/Ignition fetches and installer callbacks carry it. */
export interface InstallToken {
  token: string;
  machine: string;
  installId: string;
  expiresAt: number;
  /** Set when the install ended (built, failed, cancelled, superseded): the token opens nothing since. */
  revokedAt?: number;
}
