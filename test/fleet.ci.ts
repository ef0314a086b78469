// The fleet over a real MQTT v5 broker (docs/FLEET.md): Debian's mosquitto on a free loopback
// port, two fleet-worker Node-RED processes and one fleet-kiosk process on the tiny models.
// The kiosk page runs in Debian's Chromium with a fake camera, against the fleet kiosk.
// `npm run test:fleet` (not the default suite: it starts five servers and runs ~200 jobs).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { chromiumMissing, launchChromium } from './editor/node-red';
import { freePort } from './free-port';
import { fakeCameraArgs, writeY4m } from './kiosk/camera';
import { startNodeRed, type NodeRedProcess } from './node-red-process';
import { FIXTURES, ROOT, SHARED_TESTDATA, TINY_MODELS } from './paths';
import { skipBecause } from './skip';

const MOSQUITTO = '/usr/sbin/mosquitto';
const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
/** The tiny models' designed age: the rendered face measures 0.8 a + 12 (test/fixtures/models/tiny). */
const designedAge = (a: number): number => 0.8 * a + 12;
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type FlowNode = Record<string, unknown> & { type: string; env?: Array<{ name: string; value: string; type: string }> };

/** An example flow on the tiny models; `tabEnv` replaces values of its flow properties. */
function example(name: string, tabEnv: Record<string, string> = {}): FlowNode[] {
  const flow = JSON.parse(readFileSync(join(ROOT, 'examples', `${name}.json`), 'utf8')) as FlowNode[];
  for (const node of flow) if (node.type === 'age-runtime') Object.assign(node, { modelDir: TINY_MODELS, provider: 'cpu', threads: 1 });
  for (const [key, value] of Object.entries(tabEnv)) flow.find((n) => n.type === 'tab')!.env!.find((e) => e.name === key)!.value = value;
  return flow;
}

/** The texts the kiosk page shows, read from the page itself. */
const PAGE = readFileSync(join(ROOT, 'examples', 'kiosk', 'kiosk.html'), 'utf8');
const pageText = (key: string): string => new RegExp(`${key}: '([^']+)'`).exec(PAGE)![1];

/** What POST /kiosk/age answers (the camera kiosk page's JSON, with what the fleet adds). */
interface PageAnswer {
  status: number;
  retryAfter: string | null;
  body: { image?: string; target?: number; found?: number; aged?: number; ms?: number; size?: number; measured?: number; identity?: number; worker?: string; attempts?: number; error?: string; ticket?: number; message?: string };
}
const dataUrlBytes = (url: string): Buffer => Buffer.from(url.replace(/^data:image\/jpeg;base64,/, ''), 'base64');

/** How many pixels of two same-sized RGB images differ clearly. */
async function changedPixels(a: Buffer, b: Buffer, width: number, height: number): Promise<number> {
  const [pa, pb] = await Promise.all([a, b].map((image) => sharp(image).resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer()));
  let count = 0;
  for (let i = 0; i < pa.length; i += 3) if (Math.abs(pa[i] - pb[i]) + Math.abs(pa[i + 1] - pb[i + 1]) + Math.abs(pa[i + 2] - pb[i + 2]) > 60) count++;
  return count;
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
  identity: number;
  width?: number;
}

describe('fleet over a real MQTT v5 broker (mosquitto, 2 workers, 1 kiosk)', function () {
  this.timeout(600_000);
  let dir: string;
  let broker: Broker;
  const workers: Record<string, NodeRedProcess> = {};
  let kiosk: NodeRedProcess;
  let mqttEnv: Record<string, string>;
  let browser: Browser | undefined;
  let shots: string;

  /** Debian's Chromium with a fake camera playing `camera.y4m`; the browser checks skip without it (CI has it). */
  const chromium = async (test: Mocha.Context): Promise<Browser> => {
    const missing = chromiumMissing();
    if (missing && !process.env.CI) skipBecause(test, missing);
    if (missing) throw new Error(missing);
    if (!browser) {
      await writeY4m(join(FIXTURES, 'astronaut.png'), join(dir, 'camera.y4m'));
      browser = await launchChromium(fakeCameraArgs(join(dir, 'camera.y4m')));
    }
    return browser;
  };
  /** The kiosk page of `red` in a fresh browser context with the camera allowed, reaching nothing else. */
  const kioskPage = async (test: Mocha.Context, red: NodeRedProcess): Promise<Page> => {
    const context = await (await chromium(test)).newContext({ viewport: { width: 1280, height: 800 }, permissions: ['camera'] });
    const page = await context.newPage();
    page.setDefaultTimeout(120_000);
    await page.route('**/*', (route) => (route.request().url().startsWith(red.base) ? route.continue() : route.abort()));
    await page.goto(`${red.base}/kiosk`);
    await page.waitForSelector('body[data-camera="on"]');
    return page;
  };
  /** POST /kiosk/age as the page does. */
  const askPage = async (red: NodeRedProcess, query: string, body: Buffer, type = 'image/jpeg'): Promise<PageAnswer> => {
    const res = await fetch(`${red.base}/kiosk/age${query}`, { method: 'POST', headers: { 'Content-Type': type }, body: new Uint8Array(body) });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as PageAnswer['body'] };
  };

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
    shots = process.env.FLEET_SCREENSHOTS || join(dir, 'screenshots');
    mkdirSync(shots, { recursive: true });
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
    await browser?.close();
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
      identity: Number(res.headers.get('x-identity')),
    };
    assert.equal(res.status, 200, `age ${age}: ${res.status} ${body.toString().slice(0, 300)}`);
    assert.ok(answer.identity > 0 && answer.identity <= 1, `age ${age}: identity similarity to the input ${res.headers.get('x-identity')}`);
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

  it('the kiosk page in Chromium: capture, and the aged face comes back from a worker', async function () {
    const page = await kioskPage(this, kiosk);
    await page.locator('button[data-age="70"]').click();
    const answered = page.waitForResponse((res) => res.url().includes('/kiosk/age'));
    await page.locator('#capture').click();
    const res = await answered;
    const reply = (await res.json()) as PageAnswer['body'];
    assert.equal(res.status(), 200, JSON.stringify(reply).slice(0, 300));
    await page.waitForSelector('body[data-result="shown"]');
    assert.equal(await page.locator('#badge').textContent(), '70 years');
    await page.screenshot({ path: join(shots, 'fleet-kiosk-result.png') });
    // The page shows what the worker sent: a 256 face, not blank, aged as the tiny models are designed to.
    const shown = dataUrlBytes((await page.locator('#result').getAttribute('src'))!);
    assert.deepEqual(shown, dataUrlBytes(reply.image!), 'the page shows the reply');
    const meta = await sharp(shown).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 256, 256]);
    const spread = Math.max(...(await sharp(shown).stats()).channels.slice(0, 3).map((c) => c.stdev));
    assert.ok(spread > 10, `the face is not blank (stdev ${spread.toFixed(1)})`);
    assert.match(String(reply.worker), /^w[12]$/);
    assert.equal(reply.size, 256);
    assert.deepEqual([reply.target, reply.found, reply.aged], [70, 1, 1]);
    assert.ok(Math.abs(reply.measured! - designedAge(70)) < 2, `measured ${reply.measured}, designed ${designedAge(70)}`);
    assert.ok(reply.identity! > 0 && reply.identity! <= 1, `identity ${reply.identity}`);
    // The capture the page sent, as the page keeps it for "Show before".
    await page.locator('#toggle').click();
    const capture = Buffer.from(
      await page.evaluate(async (url) => {
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        let text = '';
        for (const b of bytes) text += String.fromCharCode(b);
        return btoa(text);
      }, (await page.locator('#result').getAttribute('src'))!),
      'base64',
    );
    assert.deepEqual([(await sharp(capture).metadata()).width, (await sharp(capture).metadata()).height], [640, 480], 'the fake camera frame');
    assert.ok((await changedPixels(shown, capture, 256, 256)) > 256 * 256 * 0.2, 'the result is not the capture');
    // The same capture at 10 comes back different: the age made the difference.
    const young = await askPage(kiosk, '?target=10', capture);
    assert.equal(young.status, 200);
    assert.ok(Math.abs(young.body.measured! - designedAge(10)) < 2, `measured ${young.body.measured}`);
    assert.ok(young.body.identity! > reply.identity!, `identity drifts with age by design: ${young.body.identity} at 10, ${reply.identity} at 70`);
    assert.ok((await changedPixels(dataUrlBytes(young.body.image!), shown, 256, 256)) > 1000, 'ages 10 and 70 differ');
    await page.context().close();
  });

  it('POST /kiosk/age speaks the camera kiosk protocol: codes for bad requests, no-face, the size asked for, faces found', async function () {
    const jpeg = await sharp(photo).jpeg().toBuffer();
    assert.deepEqual(await askPage(kiosk, '?target=abc', jpeg), { status: 400, retryAfter: null, body: { error: 'bad-age' } });
    assert.deepEqual(await askPage(kiosk, '?target=150', jpeg), { status: 400, retryAfter: null, body: { error: 'bad-age' } });
    assert.deepEqual(await askPage(kiosk, '?faces=some', jpeg), { status: 400, retryAfter: null, body: { error: 'bad-faces' } });
    assert.deepEqual(await askPage(kiosk, '?size=300', jpeg), { status: 400, retryAfter: null, body: { error: 'bad-size' } });
    assert.deepEqual(await askPage(kiosk, '?ticket=x', jpeg), { status: 400, retryAfter: null, body: { error: 'bad-ticket' } });
    assert.deepEqual(await askPage(kiosk, '', Buffer.alloc(0)), { status: 400, retryAfter: null, body: { error: 'bad-image' } });
    // These go to a worker, which answers with an error the kiosk turns into the page's code.
    assert.deepEqual(await askPage(kiosk, '', Buffer.from('definitely not an image'), 'application/octet-stream'), { status: 400, retryAfter: null, body: { error: 'bad-image' } });
    const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#778899' } }).png().toBuffer();
    assert.deepEqual(await askPage(kiosk, '', blank, 'image/png'), { status: 422, retryAfter: null, body: { error: 'no-face' } });
    const big = await askPage(kiosk, '?target=40&size=512', jpeg);
    assert.equal(big.status, 200);
    assert.equal(big.body.size, 512);
    assert.equal((await sharp(dataUrlBytes(big.body.image!)).metadata()).width, 512);
    const group = join(SHARED_TESTDATA, 'photos', 'group1.jpg');
    if (existsSync(group)) {
      const many = await askPage(kiosk, '?target=70&faces=all', readFileSync(group));
      assert.equal(many.status, 200);
      assert.ok(many.body.found! >= 3, `faces found: ${many.body.found}`);
      assert.equal(many.body.aged, 1, 'the fleet ages the largest face and says so');
    }
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
        ['size', JSON.stringify({ v: 1, image: photo.toString('base64'), ages: 30, size: 300 }), 'job.size must be 256, 512 or 1024 (received 300)'],
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

  it('the kiosk checks replies on receipt: malformed ones are ignored and the worker\'s own reply is delivered', async function () {
    // A client that sees every job (a plain subscription beside the workers' shared one) and
    // answers each at once with replies that break the format in one way each.
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, reconnectPeriod: 0 });
    const image = Buffer.from('not really').toString('base64');
    const good = { v: 1, ok: true, worker: 'impostor', images: [image], format: 'jpeg', size: 256, ages: [50], measured: [52], identity: [0.9], found: 1 };
    const bad = [
      'not json',
      JSON.stringify({ ...good, v: 2 }),
      JSON.stringify({ ...good, worker: '' }),
      JSON.stringify({ ...good, size: 512 }),
      JSON.stringify({ ...good, images: ['***'] }),
      JSON.stringify({ ...good, measured: ['old'] }),
      JSON.stringify({ ...good, identity: [3] }),
      JSON.stringify({ ...good, found: 0 }),
      JSON.stringify({ v: 1, ok: false, worker: 'impostor', error: 'no code' }),
    ];
    try {
      await client.subscribeAsync('sam/age/jobs', { qos: 1 });
      client.on('message', (_topic, _payload, packet) => {
        const { responseTopic, correlationData } = packet.properties ?? {};
        for (const payload of bad) void client.publishAsync(responseTopic!, payload, { qos: 1, properties: { correlationData } });
      });
      const before = await stats();
      const answer = await ask(50);
      assert.match(String(answer.worker), /^w[12]$/, 'the answer is the worker\'s');
      assert.ok(Math.abs(answer.measured - designedAge(50)) < 2);
      const after = await stats();
      assert.equal(after.malformed - before.malformed, bad.length, 'each malformed reply was counted and dropped');
    } finally {
      await client.endAsync();
    }
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

  it('no worker answers: 504 no-worker, which the page shows; a full door: 503 with Retry-After and a ticket', async function () {
    // A second kiosk with a door of one and short timeouts, once no worker is left.
    await Promise.all(Object.values(workers).map((w) => w.stop()));
    const lonely = await startNodeRed({
      userDir: join(dir, 'kiosk2'),
      flows: example('fleet-kiosk', { RUNNING: '1', MAX_WAITING: '0' }),
      name: 'kiosk2',
      linkPackage: true,
      env: { ...mqttEnv, FLEET_KIOSK: 'k2', FLEET_TIMEOUT_S: '2', FLEET_ATTEMPTS: '2' },
      settings: { mqttReconnectTime: 500 },
    });
    try {
      await connected(lonely);
      const jpeg = await sharp(photo).jpeg().toBuffer();
      const started = Date.now();
      const [first, second] = await Promise.all([askPage(lonely, '?target=70', jpeg), (async () => (await wait(300), askPage(lonely, '?target=70', jpeg)))()]);
      assert.equal(first.status, 504);
      assert.equal(first.body.error, 'no-worker');
      assert.equal(first.body.message, 'no worker answered within 2 s (2 attempts): is a fleet worker running and connected to the broker?');
      assert.ok(Date.now() - started >= 4000, 'after both attempts');
      assert.equal(second.status, 503, 'the door of one is full');
      assert.equal(second.body.error, 'busy');
      assert.ok(Number(second.retryAfter) >= 1 && second.body.ticket !== undefined, `Retry-After ${second.retryAfter}, ticket ${second.body.ticket}`);
      const back = await askPage(lonely, `?target=70&ticket=${second.body.ticket}`, jpeg);
      assert.equal(back.status, 504, 'the ticket is served (and nobody answers)');
      const page = await kioskPage(this, lonely);
      await page.locator('#capture').click();
      await page.waitForSelector('#message:not(.hidden)', { timeout: 60_000 });
      assert.equal(await page.locator('#message').textContent(), pageText('unreachable'));
      assert.equal(await page.locator('body').getAttribute('data-error'), 'no-worker');
      await page.screenshot({ path: join(shots, 'fleet-kiosk-no-worker.png') });
      await page.context().close();
    } finally {
      await lonely.stop();
    }
  });
});
