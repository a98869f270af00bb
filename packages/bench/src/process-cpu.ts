import { readdir, readFile } from 'node:fs/promises';

/**
 * CPU time (ms, user + system) each process has used so far, with that of its children: the
 * live ones that are not measured themselves, and those that ended and it waited for
 * (PostgreSQL serves each connection from a child process, which ends when the connection
 * closes; the bench process is the parent of the servers and functions it measures
 * separately, so a measured child that ends counts twice after). Linux only: elsewhere
 * nothing is known.
 */
export async function cpuTimes(
  processes: Record<string, number | undefined>,
): Promise<Record<string, number>> {
  const ticksPerMs = 100 / 1000; // USER_HZ: 100 on every Linux that Node supports
  const stat = async (pid: number) => {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    // The command name may hold spaces and parentheses: the fields follow its last ')'.
    const fields = text?.slice(text.lastIndexOf(')') + 2).split(' ');
    if (!fields) return undefined;
    const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number) as [
      number,
      number,
      number,
      number,
    ];
    // utime and stime: its own; cutime and cstime: its children's that ended, waited for.
    return { ppid: Number(fields[1]), own: utime + stime, ended: cutime + cstime };
  };
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((name) =>
    /^\d+$/.test(name),
  );
  const all = new Map<number, NonNullable<Awaited<ReturnType<typeof stat>>>>();
  for (const pid of pids) {
    const entry = await stat(Number(pid));
    if (entry) all.set(Number(pid), entry);
  }
  const measured = new Set(Object.values(processes));
  const times: Record<string, number> = {};
  for (const [name, pid] of Object.entries(processes)) {
    const self = pid === undefined ? undefined : all.get(pid);
    if (!self) continue;
    let ticks = self.own + self.ended;
    for (const [child, entry] of all) {
      if (entry.ppid === pid && !measured.has(child)) ticks += entry.own;
    }
    times[name] = ticks / ticksPerMs;
  }
  return times;
}

/** `after - before` per process, divided by `count`: e.g. "postgres 1.2, pubsub-emulator 3.4". */
export function cpuPer(
  before: Record<string, number>,
  after: Record<string, number>,
  count: number,
): string {
  return Object.keys(after)
    .map((name) => `${name} ${((after[name]! - (before[name] ?? 0)) / count).toFixed(2)}`)
    .join(', ');
}
