// `npm start`: runs Node-RED (the dev dependency) with this package's nodes, a user
// directory inside the repo (.node-red/, ignored by git) and an example flow deployed.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const userDir = process.env.NODE_RED_USER_DIR || join(root, '.node-red');
const port = Number(process.env.PORT || 1880);
// HOST=0.0.0.0 serves other machines on the network; HTTPS_KEY and HTTPS_CERT (PEM files)
// turn on HTTPS, which a tablet's browser needs before it lets a page use the camera.
const host = process.env.HOST || '127.0.0.1';
const https = process.env.HTTPS_KEY && process.env.HTTPS_CERT ? { key: resolve(process.env.HTTPS_KEY), cert: resolve(process.env.HTTPS_CERT) } : undefined;
const pkg = require(join(root, 'package.json'));

// EXAMPLE=<name> deploys that example (also over an earlier start's flows); a first start
// without it deploys the lifespan strip.
const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
const example = process.env.EXAMPLE || undefined;
if (example !== undefined && !examples.includes(example)) {
  console.error(`EXAMPLE="${example}" is not an example; choose one of: ${examples.join(', ')}`);
  process.exit(2);
}

mkdirSync(join(userDir, 'node_modules'), { recursive: true });
mkdirSync(join(userDir, 'models'), { recursive: true });
mkdirSync(join(userDir, 'photos'), { recursive: true });

// The example flows read photos/astronaut.png and write to out/, relative to the user directory.
const examplePhoto = join(userDir, 'photos', 'astronaut.png');
if (!existsSync(examplePhoto)) copyFileSync(join(root, 'test', 'fixtures', 'astronaut.png'), examplePhoto);

// Node-RED finds installed node packages in <userDir>/node_modules: link this one there.
const linked = join(userDir, 'node_modules', pkg.name);
if (!existsSync(linked)) symlinkSync(root, linked, 'dir');

// The nodes read models from <userDir>/models/sam-ffhq by default. Without an export of the
// real SAM models, link the designed demo models shipped in the package, which show the
// flow on a real face and say DEMO on every picture.
const models = join(userDir, 'models', 'sam-ffhq');
const demoModels = join(root, 'models', 'demo');
const tinyModels = join(root, 'test', 'fixtures', 'models', 'tiny');
// An earlier version linked the tiny test models here: move such a link to the demo models.
if (existsSync(models) && lstatSync(models).isSymbolicLink() && readlinkSync(models) === tinyModels) unlinkSync(models);
if (!existsSync(models)) {
  symlinkSync(process.env.SAM_MODELS || demoModels, models, 'dir');
}
if (!process.env.SAM_MODELS && existsSync(models) && lstatSync(models).isSymbolicLink() && readlinkSync(models) === demoModels) {
  console.log('No exported SAM models: using the designed demo models (models/demo). They keep your face and draw');
  console.log('age cues by design (greying hair, lines, a softer child face); every picture says DEMO.');
  console.log('Export the real ones with: npm run models:export -- --sam sam_ffhq_aging.pt --out models/sam-ffhq');
  console.log('then start with SAM_MODELS=models/sam-ffhq (after removing .node-red/models/sam-ffhq).');
}

const httpsSetting = https
  ? `\nmodule.exports.https = { key: require('fs').readFileSync(${JSON.stringify(https.key)}), cert: require('fs').readFileSync(${JSON.stringify(https.cert)}) };\n`
  : '';
writeFileSync(
  join(userDir, 'settings.js'),
  `module.exports = ${JSON.stringify(
    {
      uiHost: host,
      uiPort: port,
      flowFile: 'flows.json',
      fileWorkingDirectory: userDir,
      credentialSecret: false,
      logging: { console: { level: 'info', metrics: false, audit: false } },
      editorTheme: { tours: false },
      // No telemetry consent and update-notification prompt on a first start.
      telemetry: { enabled: false, updateNotification: false },
    },
    null,
    2,
  )};\n${httpsSetting}`,
);

const flows = join(userDir, 'flows.json');
if (example !== undefined) {
  if (existsSync(flows)) {
    copyFileSync(flows, join(userDir, 'flows-before-example.json'));
    console.log(`Deploying the ${example} example; the flows you had are kept in flows-before-example.json.`);
  }
  copyFileSync(join(root, 'examples', `${example}.json`), flows);
} else if (!existsSync(flows)) {
  copyFileSync(join(root, 'examples', 'lifespan-strip.json'), flows);
}

if (example === 'camera-kiosk' || example === 'fleet-kiosk') console.log(`The kiosk page: ${https ? 'https' : 'http'}://${host === '0.0.0.0' ? 'THIS-MACHINE' : host}:${port}/kiosk`);

const red = require.resolve('node-red/red.js');
// The fleet examples read their broker from MQTT_HOST / MQTT_PORT: a local mosquitto unless set.
const env = { MQTT_HOST: '127.0.0.1', MQTT_PORT: '1883', ...process.env };
const child = spawn(process.execPath, [red, '--userDir', userDir, '--settings', join(userDir, 'settings.js')], { stdio: 'inherit', env });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
