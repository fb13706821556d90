/**
 * One child process of the r2 multi-process tests. Bundled by the test (esbuild, 'source'
 * condition) into a single CommonJS file, so it runs the current sources without touching any
 * package's shared dist. Argument: a JSON object with `role` and `connectString`; it reports on
 * stdout, one JSON object per line.
 */
import { connect } from '@conclave/client';
import {
  DistributedQueue,
  DoubleBarrier,
  GroupMembership,
  ServiceDiscovery,
  SharedCounter,
  TwoPhaseCommit,
} from '../../src/index.js';

interface Args {
  role: string;
  connectString: string;
  sessionTimeoutMs?: number;
  [key: string]: unknown;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const say = (obj: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
};

async function main(): Promise<void> {
  const client = await connect(args.connectString, {
    sessionTimeoutMs: args.sessionTimeoutMs ?? 15_000,
    retry: { retries: 1_000, minTimeoutMs: 10, maxTimeoutMs: 200 },
  });
  say({ event: 'connected', sessionId: client.sessionId.toString() });
  switch (args.role) {
    case 'produce': {
      const queue = new DistributedQueue(client, args.path as string);
      const count = args.count as number;
      const batch = 16; // a few offers in flight: faster, and still one protected create each
      for (let i = 0; i < count; i += batch) {
        const offers: Promise<string>[] = [];
        for (let j = i; j < Math.min(count, i + batch); j++) offers.push(queue.offer(`${args.id}:${j}`));
        await Promise.all(offers);
      }
      say({ event: 'produced', count });
      break;
    }
    case 'consume': {
      const queue = new DistributedQueue(client, args.path as string);
      const taken: string[] = [];
      for (;;) {
        const item = await queue.take({ timeoutMs: 300 }).catch((err: { code?: string }) => {
          if (err.code === 'OPERATIONTIMEOUT') return null;
          throw err;
        });
        if (item !== null) {
          taken.push(new TextDecoder().decode(item));
          continue;
        }
        if ((await client.exists(args.donePath as string)) === null) continue;
        // Producers are done. A take can time out with items left (a slow, loaded machine), so
        // drain with poll() — and keep what it takes: a polled item is consumed like a taken one.
        const polled = await queue.poll();
        if (polled === null) break;
        taken.push(new TextDecoder().decode(polled));
      }
      say({ event: 'consumed', taken });
      break;
    }
    case 'count': {
      const counter = new SharedCounter(client, args.path as string);
      for (let i = 0; i < (args.count as number); i++) await counter.add(1);
      say({ event: 'counted' });
      break;
    }
    case 'double-enter': {
      const barrier = new DoubleBarrier(client, args.path as string, {
        count: args.count as number,
        id: args.id as string,
      });
      say({ event: 'entering' });
      await barrier.enter();
      say({ event: 'entered' });
      break;
    }
    case 'member': {
      await new GroupMembership(client, args.path as string, { id: args.id as string, payload: 'p' }).join();
      await new ServiceDiscovery(client, args.basePath as string).register({
        name: 'api',
        id: args.id as string,
        address: '127.0.0.1',
        port: 8080,
      });
      say({ event: 'joined' });
      await new Promise(() => {}); // stay until killed
      break;
    }
    case '2pc-participant': {
      const tpc = new TwoPhaseCommit(client, args.basePath as string);
      const outcome = await tpc.join(args.txId as string, args.id as string, {
        prepare: async () => {
          say({ event: 'preparing' });
          if (args.hangInPrepare) await new Promise(() => {}); // killed here, before voting
          return args.vote !== 'no';
        },
        commit: () => {
          say({ event: 'commit' });
        },
        abort: () => {
          say({ event: 'abort' });
        },
      });
      say({ event: 'outcome', outcome });
      break;
    }
    case '2pc-coordinator': {
      const tpc = new TwoPhaseCommit(client, args.basePath as string);
      const outcome = await tpc.run(args.txId as string, {
        participants: args.participants as string[],
        timeoutMs: args.timeoutMs as number,
      });
      say({ event: 'decided', outcome });
      if (args.hangAfterDecision) await new Promise(() => {}); // killed here
      break;
    }
    default:
      throw new Error(`unknown role ${args.role}`);
  }
  await client.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    say({ event: 'error', message: String(err), code: (err as { code?: string }).code });
    process.exit(1);
  },
);
