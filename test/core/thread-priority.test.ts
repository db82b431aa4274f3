/**
 * ThreadPriority against the kernel's own record: `/proc/self/task/<tid>/stat` holds each thread's nice
 * value (field 19). Threads are made with worker_threads, each a real OS thread of this process. Linux only,
 * as the class is. A lowered thread cannot be raised again without privilege, so the test file's own
 * process (one per test file in vitest's forks pool) keeps its threads lowered afterwards; the target is
 * above the process's own nice value so that lowering is allowed whatever the machine runs the tests at.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { isMainThread, Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { ThreadPriority } from '../../functions/core/thread-priority.ts';

/** The nice value of one thread of this process, or undefined where it has ended. */
function niceOf(tid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19 - 3]);
  } catch {
    return undefined;
  }
}

/** Every thread of this process with its nice value. */
function threads(): Map<number, number> {
  const found = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task').map(Number)) {
    const nice = niceOf(tid);
    if (nice !== undefined) found.set(tid, nice);
  }
  return found;
}

const workers: Worker[] = [];

/** A new OS thread that lives until the test ends. */
async function startThread(): Promise<void> {
  const worker = new Worker('setInterval(() => {}, 1000);', { eval: true });
  workers.push(worker);
  await new Promise((resolve, reject) => worker.once('online', resolve).once('error', reject));
}

afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.terminate()));
});

describe('ThreadPriority', () => {
  const base = niceOf(process.pid) as number;
  const target = Math.min(19, base + 5);

  it('runs on the main thread of a Linux process', () => {
    // The main thread's id is the process id only there; everything below relies on it.
    expect(process.platform).toBe('linux');
    expect(isMainThread).toBe(true);
    expect(base).toBeLessThan(19);
  });

  it('leaves every thread as it is at 0', async () => {
    await startThread();
    const before = threads();

    const lowered = new ThreadPriority(0).lower();

    expect(lowered).toBe(0);
    expect(threads()).toEqual(before);
  });

  it('lowers every thread but the main one, which keeps its value', async () => {
    await startThread();
    const priority = new ThreadPriority(target);

    const lowered = priority.lower();

    const after = threads();
    expect(lowered).toBeGreaterThanOrEqual(1);
    expect(after.size).toBeGreaterThan(1);
    expect(after.get(process.pid)).toBe(base);
    for (const [tid, nice] of after) if (tid !== process.pid) expect(nice, `thread ${tid}`).toBe(target);
    expect(priority.lower()).toBe(0);
  });

  it('lowers a thread that appears later on the next call', async () => {
    const priority = new ThreadPriority(target);
    priority.lower();
    const known = new Set(threads().keys());
    await startThread();
    const fresh = [...threads()].filter(([tid]) => !known.has(tid));

    const lowered = priority.lower();

    expect(fresh.some(([, nice]) => nice === base)).toBe(true);
    expect(lowered).toBeGreaterThanOrEqual(1);
    for (const [tid] of fresh)
      if (niceOf(tid) !== undefined) expect(niceOf(tid), `thread ${tid}`).toBe(target);
    expect(niceOf(process.pid)).toBe(base);
  });

  it('refuses a value outside 0-19', () => {
    expect(() => new ThreadPriority(20)).toThrow(RangeError);
    expect(() => new ThreadPriority(-1)).toThrow('nice must be an integer from 0 to 19 (got -1)');
    expect(() => new ThreadPriority(2.5)).toThrow(RangeError);
  });
});
