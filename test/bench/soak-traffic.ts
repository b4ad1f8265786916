import { runTask, TASK_KINDS, type Shared, type TaskKind, type Worker } from "./soak-tasks.js";

export type BatchPlan = Record<TaskKind, number>;

/**
 * The default batch, about 2,500 HTTP requests: enrollments over every protocol (ACME flows run ~7 requests,
 * CMP 2), OCSP and admin reads in larger numbers, and a few refusals on purpose. `scale` multiplies it.
 */
export function batchPlan(scale: number): BatchPlan {
  const base: BatchPlan = {
    "acme-order": 40, "acme-account": 10, est: 250, "est-refused": 10, scep: 120, "scep-caps": 100,
    cmp: 150, "cmp-refused": 10, ocsp: 800, admin: 450, console: 20,
  };
  return Object.fromEntries(TASK_KINDS.map((k) => [k, Math.max(1, Math.round(base[k] * scale))])) as BatchPlan;
}

export interface BatchTally {
  /** HTTP requests sent by the tasks that ran (failed ones count what they sent before failing as one). */
  requests: number;
  tasks: number;
  errors: number;
  firstErrors: string[];
  seconds: number;
  /** Set when the batch hit its time limit before every task ran. */
  cutShort: boolean;
}

/** Every task of the plan once, in random order, `workers.length` at a time; none starts after `deadline`. */
export async function runBatch(plan: BatchPlan, s: Shared, workers: Worker[], deadline: number): Promise<BatchTally> {
  const kinds: TaskKind[] = TASK_KINDS.flatMap((k) => Array<TaskKind>(plan[k]).fill(k));
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  const tally: BatchTally = { requests: 0, tasks: 0, errors: 0, firstErrors: [], seconds: 0, cutShort: false };
  const t0 = performance.now();
  let next = 0;
  await Promise.all(workers.map(async (w) => {
    while (next < kinds.length) {
      if (Date.now() >= deadline) {
        tally.cutShort = true;
        return;
      }
      const i = next++;
      try {
        const n = await runTask(kinds[i], i, s, w); // not `+= await`: that reads the total before waiting
        tally.requests += n;
      } catch (e) {
        tally.requests += 1;
        tally.errors++;
        if (tally.firstErrors.length < 5) tally.firstErrors.push(`${kinds[i]}: ${(e as Error).message.split("\n")[0]}`);
      }
      tally.tasks++;
    }
  }));
  tally.seconds = (performance.now() - t0) / 1000;
  return tally;
}
