import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Where the device id comes from when KIOSK_DEVICE_ID is unset (CONTRACT §3). Outside a container the hostname
 * names the device. In a container the hostname is often the container's random id, new on every
 * recreate, which would move the kiosk's topics each time: there the id comes from something stable
 * (balena's BALENA_DEVICE_UUID, or the host's /etc/machine-id mounted into the container), and with
 * neither it is a configuration error naming the fix.
 */
export interface HostFacts {
  readonly hostname: string;
  readonly env: NodeJS.ProcessEnv;
  /** Text of a file, or undefined when it cannot be read. */
  read(path: string): string | undefined;
}

export const realHost = (env: NodeJS.ProcessEnv): HostFacts => ({
  hostname: hostname(),
  env,
  read: (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
});

export type DefaultDeviceId = { readonly id: string; readonly from: string } | { readonly problem: string };

/** Mount points of this process's mount namespace (`/proc/self/mountinfo`'s fifth field). */
function mountPoints(host: HostFacts): Set<string> {
  const info = host.read('/proc/self/mountinfo') ?? '';
  return new Set(info.split('\n').map((line) => line.split(' ')[4]).filter((p): p is string => p !== undefined));
}

export function defaultDeviceId(host: HostFacts): DefaultDeviceId {
  const balena = host.env.BALENA_DEVICE_UUID?.trim();
  if (balena) return { id: balena, from: 'BALENA_DEVICE_UUID' };
  const mounts = mountPoints(host);
  const machineId = host.read('/etc/machine-id')?.trim();
  if (mounts.has('/etc/machine-id') && machineId !== undefined && /^[0-9a-f]{32}$/.test(machineId)) return { id: machineId, from: '/etc/machine-id' };
  const name = host.hostname.split('.')[0] ?? '';
  // Docker's and Podman's default hostname is the first 12 hex digits of the container id, on a mounted /etc/hostname.
  if (mounts.has('/etc/hostname') && /^[0-9a-f]{12}$/.test(name))
    return {
      problem: `required in a container: the hostname "${name}" is the container's id and changes on every recreate; set KIOSK_DEVICE_ID, ` +
        'or mount the host\'s /etc/machine-id (-v /etc/machine-id:/etc/machine-id:ro), or give the container a hostname',
    };
  return { id: name, from: 'the hostname' };
}
