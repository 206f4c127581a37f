import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { Discovery } from '../discovery/service.js';
import type { InventoryService } from '../inventory/service.js';
import type { EventLog } from '../lifecycle/event-log.js';
import type { Installs } from '../lifecycle/install.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import type { Views } from '../lifecycle/views.js';
import type { Logger } from '../log.js';
import type { Renderers } from '../model/renderers.js';
import type { AddressBook } from '../reads/address-book.js';
import type { Reads } from '../reads/reads.js';

/** What the route plugins are given (built in main.ts). */
export interface AppDeps {
  config: Config;
  reads: Reads;
  lifecycle: Lifecycle;
  installs: Installs;
  views: Views;
  events: EventLog;
  inventory: InventoryService;
  discovery: Discovery;
  renderers: Renderers;
  metrics: Registry;
  logger: Logger;
  apiToken: string;
  /** Resolves when the store takes a durable write (the health check). */
  checkStore: () => Promise<void>;
  /** Authoritative DHCP: the subnets this instance answers, and those it is a standby for. */
  dhcpRoles?: () => { answering: string[]; standby: string[] };
  /** Told when a machine asks for its iPXE script: that IP is that MAC (works without our DHCP). */
  addresses: AddressBook;
}
