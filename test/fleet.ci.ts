// The fleet over a real MQTT v5 broker (docs/FLEET.md): Debian's mosquitto on a free loopback
// port, two fleet-worker Node-RED processes and one fleet-kiosk process on the tiny models.
// `npm run test:fleet` (not the default suite: it starts four servers and runs ~200 jobs).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import sharp from 'sharp';
import { freePort } from './free-port';
import { startNodeRed, type NodeRedProcess } from './node-red-process';
import { FIXTURES, ROOT, TINY_MODELS } from './paths';

const MOSQUITTO = '/usr/sbin/mosquitto';
const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
/** The tiny models' designed age: the rendered face measures 0.8 a + 12 (test/fixtures/models/tiny). */
const designedAge = (a: number): number => 0.8 * a + 12;
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type FlowNode = Record<string, unknown> & { type: string };

function example(name: string): FlowNode[] {
  const flow = JSON.parse(readFileSync(join(ROOT, 'examples', `${name}.json`), 'utf8')) as FlowNode[];
  for (const node of flow) if (node.type === 'age-runtime') Object.assign(node, { modelDir: TINY_MODELS, provider: 'cpu', threads: 1 });
  return flow;
}

/** A mosquitto of our own, loopback only, no persistence. */
class Broker {
  child?: ChildProcess;
  log = '';
  constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    writeFileSync(join(dir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stdout\n`);
  }
  async start(): Promise<void> {
    this.child = spawn(MOSQUITTO, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    const started = Date.now();
    while (!(await this.accepts())) {
      assert.ok(Date.now() - started < 10_000, `mosquitto did not start:\n${this.log}`);
      await wait(50);
    }
  }
  accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = tcpConnect(this.port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
  }
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

interface Answer {
  status: number;
  worker: string | null;
  id: string | null;
  attempts: number;
  ms: number;
  workerMs: number;
  measured: number;
  width?: number;
}

describe('fleet over a real MQTT v5 broker (mosquitto, 2 workers, 1 kiosk)', function () {
  this.timeout(600_000);
  let dir: string;
  let broker: Broker;
  const workers: Record<string, NodeRedProcess> = {};
  let kiosk: NodeRedProcess;
  let mqttEnv: Record<string, string>;

  const startWorker = async (name: string): Promise<NodeRedProcess> => {
    const red = await startNodeRed({ userDir: join(dir, name), flows: example('fleet-worker'), name, linkPackage: true, env: { ...mqttEnv, FLEET_WORKER: name }, settings: { mqttReconnectTime: 500, ageModelRoots: [TINY_MODELS] } });
    await connected(red);
    workers[name] = red;
    return red;
  };
  const connected = async (red: NodeRedProcess, times = 1): Promise<void> => {
    const started = Date.now();
    while ((red.output().match(/Connected to broker/g) ?? []).length < times) {
      assert.ok(Date.now() - started < 60_000, `not connected to the broker:\n${red.output()}`);
      await wait(100);
    }
  };

  before(async function () {
    if (!existsSync(MOSQUITTO)) throw new Error(`${MOSQUITTO} is missing: apt-get install mosquitto (.ci/run does)`);
    dir = mkdtempSync(join(tmpdir(), 'age-fleet-'));
    broker = new Broker(dir, await freePort());
    await broker.start();
    mqttEnv = { MQTT_HOST: '127.0.0.1', MQTT_PORT: String(broker.port) };
    await Promise.all([startWorker('w1'), startWorker('w2')]);
    kiosk = await startNodeRed({ userDir: join(dir, 'kiosk'), flows: example('fleet-kiosk'), name: 'kiosk', linkPackage: true, env: { ...mqttEnv, FLEET_KIOSK: 'k1', FLEET_TIMEOUT_S: '30', FLEET_ATTEMPTS: '4' }, settings: { mqttReconnectTime: 500 } });
    await connected(kiosk);
    // One job per worker first: each loads its models on its first job.
    await Promise.all([ask(30), ask(60)]);
  });
  afterEach(function () {
    // What the servers said, when a test failed: the fleet's failures are in their logs.
    if (this.currentTest?.state !== 'failed') return;
    for (const [name, red] of [...Object.entries(workers), ['kiosk', kiosk] as const]) console.log(`----- ${name}\n${red?.output().slice(-3000)}`);
    console.log(`----- mosquitto\n${broker.log.slice(-2000)}`);
  });
  after(async function () {
    await Promise.all([kiosk?.stop(), ...Object.values(workers).map((w) => w.stop())]);
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function ask(age: number): Promise<Answer> {
    const res = await fetch(`${kiosk.base}/age?target=${age}`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: photo });
    const body = Buffer.from(await res.arrayBuffer());
    const answer: Answer = {
      status: res.status,
      worker: res.headers.get('x-fleet-worker'),
      id: res.headers.get('x-fleet-id'),
      attempts: Number(res.headers.get('x-fleet-attempts')),
      ms: Number(res.headers.get('x-fleet-ms')),
      workerMs: Number(res.headers.get('x-worker-ms')),
      measured: Number(res.headers.get('x-measured-age')),
    };
    assert.equal(res.status, 200, `age ${age}: ${res.status} ${body.toString().slice(0, 300)}`);
    answer.width = (await sharp(body).metadata()).width;
    return answer;
  }

  /** Sends `count` jobs, `concurrency` at a time (people at kiosks); `during` runs once `at` are answered. */
  async function run(count: number, concurrency: number, at = -1, during?: () => Promise<void>): Promise<{ answers: Answer[]; seconds: number }> {
    const answers: Answer[] = [];
    let nextJob = 0;
    let disrupted: Promise<void> | undefined;
    const started = Date.now();
    const lane = async (): Promise<void> => {
      while (nextJob < count) {
        const age = (nextJob++ * 7) % 101;
        const answer = await ask(age);
        assert.equal(answer.width, 256);
        assert.ok(Math.abs(answer.measured - designedAge(age)) < 2, `age ${age} measured ${answer.measured}, designed ${designedAge(age)}`);
        answers.push(answer);
        if (answers.length === at && during) disrupted = during();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
    await disrupted;
    return { answers, seconds: (Date.now() - started) / 1000 };
  }

  async function stats(): Promise<Record<string, number>> {
    return (await (await fetch(`${kiosk.base}/fleet/stats`)).json()) as Record<string, number>;
  }

  function checkOnce(answers: Answer[], count: number): void {
    assert.equal(answers.length, count);
    assert.equal(new Set(answers.map((a) => a.id)).size, count, 'one answer per job id');
  }

  it('answers 100 jobs correctly, using both workers', async function () {
    const before = await stats();
    const { answers, seconds } = await run(100, 4);
    checkOnce(answers, 100);
    const perWorker = { w1: answers.filter((a) => a.worker === 'w1').length, w2: answers.filter((a) => a.worker === 'w2').length };
    console.log(`      100 jobs in ${seconds.toFixed(1)} s (${(100 / seconds).toFixed(2)} jobs/s, 2 workers sharing the cores): w1 ${perWorker.w1}, w2 ${perWorker.w2}`);
    assert.ok(perWorker.w1 > 0 && perWorker.w2 > 0, 'both workers used');
    assert.equal(perWorker.w1 + perWorker.w2, 100);
    const after = await stats();
    assert.equal(after.answered - before.answered, 100);
    assert.equal(after.timedOut, before.timedOut, 'no job timed out');
  });

  it('a malformed job gets an error reply, never a crash; the next job is served', async function () {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, reconnectPeriod: 0 });
    try {
      await client.subscribeAsync('sam/age/replies/probe', { qos: 1 });
      const replies = new Map<string, Record<string, unknown>>();
      client.on('message', (_topic, payload, packet) => replies.set(String(packet.properties?.correlationData), JSON.parse(payload.toString()) as Record<string, unknown>));
      const bad: Array<[string, string | Buffer, string]> = [
        ['not-json', 'definitely not json', 'job is not JSON: '],
        ['array', '[1,2]', 'job must be a JSON object'],
        ['version', JSON.stringify({ v: 2, image: 'AAAA', ages: 30 }), 'job.v must be 1 (received 2)'],
        ['no-image', JSON.stringify({ v: 1, ages: 30 }), 'job.image must be the image file as a base64 string'],
        ['ages', JSON.stringify({ v: 1, image: photo.toString('base64'), ages: [150] }), 'job.ages must be a number or a list of 1 to 11 numbers from 0 to 100 (received [150])'],
        ['not-image', JSON.stringify({ v: 1, image: Buffer.from('hello world, no picture').toString('base64'), ages: 30 }), ''],
      ];
      for (const [id, payload] of bad) {
        await client.publishAsync('sam/age/jobs', payload, { qos: 1, properties: { responseTopic: 'sam/age/replies/probe', correlationData: Buffer.from(id) } });
      }
      const started = Date.now();
      while (replies.size < bad.length) {
        assert.ok(Date.now() - started < 60_000, `error replies for ${bad.length} bad jobs, got ${[...replies.keys()].join(', ')}`);
        await wait(100);
      }
      for (const [id, , message] of bad) {
        const reply = replies.get(id)!;
        assert.equal(reply.v, 1);
        assert.equal(reply.ok, false, id);
        assert.ok(String(reply.error).startsWith(message) && String(reply.error).length > 0, `${id}: ${String(reply.error)}`);
        assert.match(String(reply.worker), /^w[12]$/);
      }
      assert.equal(replies.get('not-image')!.code, 'EFORMAT', 'the image decoder code');
    } finally {
      await client.endAsync();
    }
    const answer = await ask(40);
    assert.equal(answer.status, 200);
  });

  it('a worker killed mid-run: every job is still answered exactly once', async function () {
    const before = await stats();
    const { answers } = await run(40, 4, 8, async () => {
      await workers.w2!.kill();
    });
    checkOnce(answers, 40);
    const after = await stats();
    console.log(`      after the kill: ${answers.filter((a) => a.attempts > 1).length} jobs retried, ${after.duplicates - before.duplicates} late replies dropped`);
    assert.equal(after.answered - before.answered, 40);
    assert.ok(answers.slice(-10).every((a) => a.worker === 'w1'), 'the survivor serves the rest');
    await startWorker('w2');
  });

  it('the broker restarted mid-run: both sides reconnect and every job is answered', async function () {
    const before = await stats();
    const { answers } = await run(40, 4, 8, async () => {
      await broker.stop();
      await wait(1000);
      await broker.start();
    });
    checkOnce(answers, 40);
    const after = await stats();
    assert.equal(after.answered - before.answered, 40);
    assert.ok((kiosk.output().match(/Connected to broker/g) ?? []).length >= 2, 'the kiosk reconnected');
    console.log(`      across the restart: ${answers.filter((a) => a.attempts > 1).length} jobs retried`);
  });

  it('measures: jobs/s with two workers and with one, and the broker hop (figures for BENCHMARKS.md)', async function () {
    const median = (v: number[]): number => v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
    // One job at a time: kiosk round trip minus the worker's own time is the broker hop (both ways).
    const single: Answer[] = [];
    for (let i = 0; i < 7; i++) single.push(await ask(50));
    const hop = median(single.map((a) => a.ms - a.workerMs));
    const two = await run(24, 4);
    await workers.w2!.stop();
    const one = await run(24, 4);
    const rate = (r: { answers: Answer[]; seconds: number }): number => r.answers.length / r.seconds;
    console.log(`      FLEET-BENCH two workers ${rate(two).toFixed(3)} jobs/s, one worker ${rate(one).toFixed(3)} jobs/s, broker hop median ${hop} ms (job median ${median(single.map((a) => a.ms))} ms, worker ${median(single.map((a) => a.workerMs))} ms)`);
    assert.ok(one.answers.every((a) => a.worker === 'w1'));
    assert.ok(hop >= 0 && hop < 5000, `the hop (${hop} ms) is a small part of a job`);
  });
});
