/**
 * Holds a child process to a share of the machine's CPUs, as Lambda holds a function to the vCPU share its
 * memory buys: a cgroup CPU quota (v2 `cpu.max`, or v1 `cpu.cfs_quota_us`) where this process may create a
 * child cgroup, else a SIGSTOP/SIGCONT duty cycle.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/** How a child's CPU is held to its share. */
export type QuotaMethod = 'cgroup-v2 cpu.max' | 'cgroup-v1 cpu.cfs_quota_us' | 'SIGSTOP/SIGCONT duty cycle';

/** The scheduler period the quota applies over. */
export const PERIOD_US = 100_000;

/** Starts processes held to a CPU share; {@link CpuQuota.close} removes the cgroups it made. */
export interface CpuQuota {
  readonly method: QuotaMethod;
  /** Spawns `command` held to `share` CPUs; `release` ends the hold (call it once the child has exited). */
  spawn(
    share: number,
    command: string,
    args: readonly string[],
    options: SpawnOptions,
  ): Promise<{ child: ChildProcess; release: () => void }>;
  close(): Promise<void>;
}

/** Where a child cgroup with a CPU quota can be made, and how; undefined: none is writable. */
function cgroupRoot(): { dir: string; method: QuotaMethod } | undefined {
  const probe = (dir: string, file: string) => {
    try {
      const group = join(dir, `inferlet-bench-probe-${process.pid}`);
      mkdirSync(group);
      const ok = existsSync(join(group, file));
      rmdirSync(group);
      return ok;
    } catch {
      return false;
    }
  };
  if (probe('/sys/fs/cgroup', 'cpu.max')) return { dir: '/sys/fs/cgroup', method: 'cgroup-v2 cpu.max' };
  if (probe('/sys/fs/cgroup/cpu', 'cpu.cfs_quota_us'))
    return { dir: '/sys/fs/cgroup/cpu', method: 'cgroup-v1 cpu.cfs_quota_us' };
  return undefined;
}

/**
 * Holds `child` to `share` of this machine's CPUs by stopping it for the rest of each period: coarser than
 * a cgroup quota (a stopped process also stops its I/O), so it is the fallback only.
 */
function dutyCycle(child: ChildProcess, share: number): () => void {
  const running = Math.min(1, share / availableParallelism());
  if (running >= 1) return () => {};
  let stopped = false;
  const timer = setInterval(() => {
    child.kill('SIGCONT');
    setTimeout(() => child.kill('SIGSTOP'), (PERIOD_US / 1000) * running);
    stopped = true;
  }, PERIOD_US / 1000);
  return () => {
    clearInterval(timer);
    if (stopped) child.kill('SIGCONT');
  };
}

/**
 * A CPU quota by the best method this machine allows; `forceDutyCycle` takes the fallback anyway (to check
 * it where a cgroup is writable).
 */
export function cpuQuota(forceDutyCycle = false): CpuQuota {
  const cgroup = forceDutyCycle ? undefined : cgroupRoot();
  const groups = new Map<number, Promise<string>>();
  /** A cgroup holding its members to `share` CPUs, made once per share. */
  const groupFor = (share: number, root: { dir: string; method: QuotaMethod }) => {
    let made = groups.get(share);
    if (!made) {
      made = (async () => {
        const dir = join(root.dir, `inferlet-bench-${process.pid}-${String(share).replace('.', '_')}`);
        await mkdir(dir, { recursive: true });
        const quota = Math.round(share * PERIOD_US);
        // The highest weight as well: on a machine busy with other work a quota is only a ceiling, and the
        // child would get less than its share; Lambda guarantees the share, so the bench claims it first.
        if (root.method === 'cgroup-v2 cpu.max') {
          await writeFile(join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`);
          await writeFile(join(dir, 'cpu.weight'), '10000');
        } else {
          await writeFile(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
          await writeFile(join(dir, 'cpu.cfs_quota_us'), String(quota));
          await writeFile(join(dir, 'cpu.shares'), '262144');
        }
        return dir;
      })();
      groups.set(share, made);
    }
    return made;
  };
  return {
    method: cgroup?.method ?? 'SIGSTOP/SIGCONT duty cycle',
    async spawn(share, command, args, options) {
      if (!cgroup) {
        const child = spawn(command, [...args], options);
        return { child, release: dutyCycle(child, share) };
      }
      const group = await groupFor(share, cgroup);
      // In the cgroup before the command starts: the shell joins it, then becomes the command.
      const child = spawn(
        'sh',
        ['-c', `echo $$ > "${group}/cgroup.procs" && exec "$0" "$@"`, command, ...args],
        options,
      );
      return { child, release: () => {} };
    },
    close: async () => {
      for (const made of groups.values()) await rmdir(await made).catch(() => undefined);
    },
  };
}
