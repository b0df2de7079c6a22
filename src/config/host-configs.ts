// Each host's configuration: the inputs, laid over by what the host's entry of `hosts` sets for itself.
import type { Files } from '../io.js';
import type { RawInputs } from '../inputs.js';
import { ConfigError, loadConfig, type Config, type ConfigIssue } from './config.js';
import { REPLACES, type HostEntry } from './hosts.js';

/** This machine: a remote host's ports are not there. */
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Each host's configuration: the inputs laid over by what its entry sets (a proxy input replaces the shared ones
 * that would contradict it; health-host defaults to the host of its URL unless given for all). Every host is
 * validated before anything runs; a problem names the host.
 */
export async function hostConfigs(
  base: Config,
  raw: RawInputs,
  files: Files,
  sources: Partial<Record<string, { kind: string; label: string }>> = {},
): Promise<{ host: HostEntry; config: Config }[]> {
  const issues: ConfigIssue[] = [];
  const configs: { host: HostEntry; config: Config }[] = [];
  for (const host of base.hosts) {
    const own = { ...host.overrides };
    // The address in the URL is only a default: health-host given for every host wins over it.
    if (own['health-host'] === undefined && !raw['health-host'] && host.address) own['health-host'] = host.address;
    const laid: RawInputs = { ...raw, hosts: '' };
    for (const key of Object.keys(own)) for (const k of REPLACES[key] ?? []) delete laid[k];
    Object.assign(laid, own);
    try {
      const config = await loadConfig(laid, files, sources);
      for (const t of config.targets.filter((x) => x.file && host.remote)) {
        issues.push({
          input: `hosts (${host.name})`,
          value: t.file,
          message:
            `proxy ${t.container}: an include on the runner's disk (upstream-file, file:) cannot reach ${host.name}, ` +
            'whose engine is reached over the network (or by a context): give its path inside the container ' +
            '(upstream-path, path:), written with docker cp',
        });
      }
      if (host.remote && LOOPBACK.test(config.health.host)) {
        issues.push({
          input: `health-host of ${host.name}`,
          value: config.health.host,
          source: Object.hasOwn(own, 'health-host')
            ? `hosts (${host.name})`
            : (sources['health-host']?.label ?? 'default'),
          message:
            `that is the runner itself, but ${host.name}'s engine is reached over the network or by a context: give ` +
            `the address where the runner reaches its published ports (health-host in its entry of hosts)`,
        });
      }
      configs.push({ host, config: { ...config, hosts: [] } });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const issue of error.issues) {
        const mine = Object.hasOwn(own, issue.input);
        issues.push({
          ...issue,
          input: `${issue.input} of ${host.name}`,
          source: mine ? `hosts (${host.name})` : issue.source,
        });
      }
    }
  }
  if (issues.length) throw new ConfigError(issues);
  return configs;
}
