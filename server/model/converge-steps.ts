import { z } from 'zod';
import { AbsolutePath, Ident } from './primitives.js';

/**
 * Converge steps as a profile declares them. Execution lives in server/converge; the
 * schema lives here so a bad step is refused when the profile is applied, not mid-converge.
 *
 * Nothing here is rendered into a kickstart or iPXE script. The converger puts every value into
 * its commands through shellQuote (server/converge/shell.ts: one single-quoted word whatever it
 * holds) and runs them with `sh -c <quoted script>`; `run` and `unless` are shell by design, and
 * file contents are uploaded, not pasted. Names, paths, owners and images are still held to
 * their alphabets, so that plans, events and error messages show what they name.
 */
const base = {
  name: Ident.describe('step id, unique within the profile; events and plans name it'),
  timeoutSeconds: z.number().int().positive().max(86400).optional(),
};

/** A user or group for chown: a name (letters, digits, _ . -, a trailing $ for machine accounts) or a numeric id. */
const Owner = z.string().regex(/^([A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|\d{1,10})$/, 'a user or group name, or a numeric id');

export const PackagesStep = z.object({
  ...base,
  kind: z.literal('packages'),
  packages: z.array(z.string().regex(/^[A-Za-z0-9_.+:@-]+$/, 'package names only')).min(1),
  state: z.enum(['present', 'absent']).default('present'),
});

export const FileStep = z
  .object({
    ...base,
    kind: z.literal('file'),
    path: AbsolutePath,
    content: z.string().optional(),
    template: z.string().optional().describe('handlebars source rendered with machine, profile and params'),
    mode: z.string().regex(/^0?[0-7]{3,4}$/, 'octal mode like 0644').default('0644'),
    owner: Owner.default('root'),
    group: Owner.default('root'),
  })
  .refine((s) => (s.content === undefined) !== (s.template === undefined), {
    message: 'give exactly one of content or template',
    path: ['content'],
  });

export const ServiceStep = z.object({
  ...base,
  kind: z.literal('service'),
  service: z.string().regex(/^[A-Za-z0-9@_.:-]+$/, 'systemd unit name'),
  enabled: z.boolean().default(true),
  state: z.enum(['started', 'stopped']).default('started'),
  restartOn: z.array(Ident).default([]).describe('restart when one of these steps changed something'),
});

/** `latest` (or no tag) makes two converges of the same profile run different code. */
export const ContainerImage = z
  .string()
  .max(512)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/, 'an image reference: registry/name:tag or name@sha256:digest')
  .refine((img) => /@sha256:[0-9a-f]{64}$/.test(img) || /:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(img.replace(/^[^/]*:\d+\//, '')), {
    message: 'image needs a digest (@sha256:…) or an exact tag',
  })
  .refine((img) => !/:latest$/.test(img), { message: 'the tag "latest" is refused: pin a digest or an exact tag' });

export const ContainerStep = z.object({
  ...base,
  kind: z.literal('container'),
  container: Ident,
  image: ContainerImage,
  args: z.array(z.string()).default([]).describe('extra podman run arguments (ports, volumes, env)'),
  command: z.array(z.string()).default([]),
});

export const CommandStep = z
  .object({
    ...base,
    kind: z.literal('command'),
    run: z.string().min(1),
    creates: AbsolutePath.optional().describe('skip when this path exists'),
    unless: z.string().optional().describe('skip when this command exits 0'),
  })
  .refine((s) => s.creates !== undefined || s.unless !== undefined, {
    message: 'a command step needs a creates or unless guard, or it would run on every converge',
    path: ['creates'],
  });

export const RebootStep = z.object({
  ...base,
  kind: z.literal('reboot'),
  when: z.enum(['changed', 'always']).default('changed').describe('changed: only if an earlier step changed something'),
});

export const ConvergeStep = z.discriminatedUnion('kind', [
  PackagesStep,
  FileStep,
  ServiceStep,
  ContainerStep,
  CommandStep,
  RebootStep,
]);
export type ConvergeStep = z.infer<typeof ConvergeStep>;

/** plan: what would change; apply: change it; audit: report drift, change nothing. */
export type ConvergeMode = 'plan' | 'apply' | 'audit';
