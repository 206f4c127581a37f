/**
 * Kickstarts for the installer stand-in's kickstart mode, written the way the project's
 * templates call back (curl -fsS --retry 3 -X POST --data-binary @FILE|TEXT), so the e2e run
 * proves the guest's curl shim and section runner handle that style.
 */
export function callbackKickstart(baseUrl: string, token: string): string {
  const cb = (event: string, query = '') => `"${baseUrl}/boot/callback/${event}?token=${token}${query}"`;
  return `# kickstand e2e: callbacks from %pre / %post like the templates make them
text
reboot
%packages
@core
%end

%pre --log=/tmp/ks-pre.log
curl -fsS --retry 3 -X POST --data-binary "kickstart %pre on $(uname -r)" ${cb('start')}
%end

%post --erroronfail --log=/root/ks-post.log
curl -fsS --retry 3 -X POST --data-binary "post section running" ${cb('progress', '&step=post')}
curl -fsS --retry 3 -X POST --data-binary @/etc/ssh/ssh_host_ed25519_key.pub ${cb('hostkeys')}
curl -fsS --retry 3 -X POST --data-binary "done" ${cb('built')}
%end

%onerror
tail -n 20 /tmp/anaconda.log > /tmp/ks-tail
curl -fsS --retry 3 -X POST --data-binary @/tmp/ks-tail ${cb('failed')}
%end
`;
}
