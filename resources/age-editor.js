// What every age transform node's editor shares, in one file. Node-RED serves a node package's
// resources/ folder, so each node's .html loads it from
// resources/node-red-contrib-sam-age/age-editor.js; the runtime requires the same file for the
// configuration migrations, so a saved flow is upgraded the same way in both places.
//  - validators in Node-RED 4's form: validate(value, opt) returns true or a message;
//  - the ages grammar (as lib/sam/ages.ts reads it; a test keeps the two in step);
//  - configVersion and the migrations that bring an older saved node up to date;
//  - a new node picks the only age-runtime there is;
//  - thumbnails of a node's last output, drawn under the node on the canvas.
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.AgeTransform = root.AgeTransform || factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  var PACKAGE = 'node-red-contrib-sam-age';
  /** Shared texts live in the age-runtime catalog (every node needs a runtime). */
  var CATALOG = PACKAGE + '/age-runtime:shared.validate.';
  /** Oldest target age, years; most ages one setting may give (as lib/sam/ages.ts). */
  var MAX_AGE = 100;
  var MAX_AGES = 101;
  var RANGE = /^\s*(-?[\d.]+)\s*:\s*(-?[\d.]+)\s*(?::\s*(-?[\d.]+)\s*)?$/;

  /**
   * Migrations, per node type, in order: a node saved at a lower configVersion gets each
   * later step. `fill` gives the value a setting had before that version for saved nodes that
   * lack it, so their behaviour stays what it was when a default later changes.
   * Version 1 is the first versioned configuration: flows saved before it (no configVersion)
   * keep the settings 0.1.0 ran them with, and get thumbnails on (new in version 1).
   */
  var MIGRATIONS = {
    'age-runtime': [{ to: 1, fill: { modelDir: 'models/sam-ffhq', provider: 'auto', deviceId: 0, threads: 0, precision: 'auto', queueLimit: 50 } }],
    'face-align': [{ to: 1, fill: { size: 256, mode: 'largest', resample: 'ffhq', detector: 'ssd', minConfidence: 0.5, minFaceSize: 20, maxPixels: 40000000, preview: true } }],
    'age-encode': [{ to: 1, fill: { targetAge: '0:100:10', mixing: 'none', layers: '8-17', alpha: 1, variants: 3, seed: 0 } }],
    'age-generate': [{ to: 1, fill: { mode: 'sequence', format: 'png', size: 1024, quality: 'full', labels: true, animationFormat: 'webp', frames: 8, delay: 80, loop: 0, feather: 0.3, preview: true } }],
    'age-regress': [{ to: 1, fill: { backend: 'auto', input: 'auto', preview: true } }],
    'kiosk-page': [{ to: 1, fill: { file: '', endpoint: 'kiosk/age' } }],
    'path-optimize': [{ to: 1, fill: { ages: '0:100:10', ageWeight: 1, identityWeight: 10, smoothnessWeight: 1000, budget: 40, ageBackend: 'onnx', identityBackend: 'onnx', seed: 1 } }]
  };

  /** The configVersion a node of `type` is saved with now. */
  function currentVersion(type) {
    var steps = MIGRATIONS[type];
    if (!steps) throw new Error('no configuration versions for node type ' + type);
    return steps[steps.length - 1].to;
  }

  /**
   * Brings a saved node's settings up to the current configVersion.
   * @returns {{ config: object, from: number, to: number, changes: object }} the migrated
   *   settings (a copy), the version it was saved at (0: none), and what changed
   */
  function migrate(type, saved) {
    var to = currentVersion(type);
    var from = Number(saved.configVersion) || 0;
    var config = {};
    var changes = {};
    Object.keys(saved).forEach(function (key) { config[key] = saved[key]; });
    MIGRATIONS[type].forEach(function (step) {
      if (step.to <= from) return;
      Object.keys(step.fill || {}).forEach(function (key) {
        if (config[key] === undefined || config[key] === '') {
          config[key] = step.fill[key];
          changes[key] = step.fill[key];
        }
      });
    });
    if (from < to) {
      config.configVersion = to;
      changes.configVersion = to;
    }
    return { config: config, from: from, to: to, changes: changes };
  }

  /**
   * Reads target ages as lib/sam/ages.ts does: one age, a comma list or a range
   * start:end[:step] (step 10 by default, end included).
   * @returns {{ ages?: number[], problem?: [string, object] }} the ages, or a catalog key and its substitutions
   */
  function parseAges(text) {
    var value = String(text == null ? '' : text);
    var ages;
    var m = RANGE.exec(value);
    if (m) {
      var start = Number(m[1]);
      var end = Number(m[2]);
      var step = m[3] === undefined ? 10 : Number(m[3]);
      if (!(step > 0)) return { problem: ['agesStep', {}] };
      if (!(end >= start)) return { problem: ['agesOrder', {}] };
      var count = Math.floor((end - start) / step + 1e-9) + 1;
      if (count > MAX_AGES) return { problem: ['agesCount', { max: MAX_AGES }] };
      ages = [];
      for (var i = 0; i < count; i++) ages.push(Math.round((start + i * step) * 1e6) / 1e6);
    } else if (value.trim() !== '') {
      ages = value.split(',').map(function (s) { return s.trim() === '' ? NaN : Number(s); });
    } else {
      return { problem: ['agesMissing', {}] };
    }
    if (ages.length > MAX_AGES) return { problem: ['agesCount', { max: MAX_AGES }] };
    for (var k = 0; k < ages.length; k++) {
      if (!isFinite(ages[k])) return { problem: ['agesSyntax', {}] };
      if (ages[k] < 0 || ages[k] > MAX_AGE) return { problem: ['agesRange', { max: MAX_AGE }] };
    }
    return { ages: ages };
  }

  // ---- editor only: everything below uses Node-RED's editor globals (RED, $) when called ----

  /** A shared text of the editor, through Node-RED's i18n. */
  function text(key, subs) {
    return RED._(CATALOG + key, subs);
  }

  /**
   * A Node-RED 4 validator: `check(value)` returns nothing when the value is good, else
   * [key, substitutions] of the message to show.
   */
  function validator(check) {
    return function (v, opt) {
      // A setting an older saved node lacks: the migration fills it in (editor and runtime).
      if (v === undefined) return true;
      var problem = check(v);
      if (!problem) return true;
      return opt ? text(problem[0], problem[1]) : false;
    };
  }

  function isNumber(v) { return String(v).trim() !== '' && isFinite(Number(v)); }

  var validate = {
    /** One of the listed values. */
    oneOf: function (values) {
      return validator(function (v) { return values.indexOf(String(v)) === -1 ? ['oneOf', { values: values.join(', ') }] : undefined; });
    },
    /** A whole number from min to max. */
    integer: function (min, max) {
      return validator(function (v) {
        var ok = /^\s*\d+\s*$/.test(String(v)) && Number(v) >= min && Number(v) <= max;
        return ok ? undefined : ['integer', { min: min, max: max }];
      });
    },
    /** A number from min to max (either may be omitted). */
    number: function (min, max) {
      return validator(function (v) {
        var n = Number(v);
        if (!isNumber(v)) return ['number', {}];
        if (min !== undefined && n < min) return max === undefined ? ['atLeast', { min: min }] : ['between', { min: min, max: max }];
        if (max !== undefined && n > max) return min === undefined ? ['atMost', { max: max }] : ['between', { min: min, max: max }];
        return undefined;
      });
    },
    /** A number above min. */
    above: function (min) {
      return validator(function (v) { return isNumber(v) && Number(v) > min ? undefined : ['above', { min: min }]; });
    },
    /** Target ages in the grammar of {@link parseAges}. */
    ages: function () {
      return validator(function (v) { return parseAges(v).problem; });
    },
    /** Style layers: "8-17", "0,3-5". */
    layers: function () {
      return validator(function (v) { return /^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$/.test(String(v)) ? undefined : ['layers', {}]; });
    }
  };

  /** The age-runtime config nodes a node on workspace `z` can use. */
  function runtimesFor(z) {
    var found = [];
    RED.nodes.eachConfig(function (config) {
      if (config.type === 'age-runtime' && (!config.z || config.z === z)) found.push(config);
    });
    return found;
  }

  /**
   * For a node's `onadd`: a new node is saved at the current configVersion, and picks the
   * age-runtime when exactly one exists (with none it uses the shared default runtime; with
   * several the user chooses).
   */
  function added(node) {
    node.configVersion = currentVersion(node.type);
    if (node._def.defaults.runtime && !node.runtime) {
      var runtimes = runtimesFor(node.z);
      if (runtimes.length === 1) node.runtime = runtimes[0].id;
    }
  }

  /**
   * For a node's `oneditprepare`: shows an older saved node's settings migrated, so Done
   * saves them at the current configVersion (Cancel leaves the node as it was; the runtime
   * migrates it the same way at deploy). A setting the node lacks (saved before the setting
   * existed, or a config node being added, whose defaults the editor leaves out) shows its
   * default, which is what the runtime uses for it.
   */
  function prepare(node, prefix) {
    var form = prefix || 'node-input';
    // A config node being added has no onadd: it starts at the current version.
    var changes = RED.nodes.node(node.id) ? migrate(node.type, node).changes : { configVersion: currentVersion(node.type) };
    var defaults = node._def.defaults;
    Object.keys(defaults).forEach(function (key) {
      if (node[key] === undefined && !(key in changes)) changes[key] = defaults[key].value;
    });
    Object.keys(changes).forEach(function (key) {
      var input = $('#' + form + '-' + key);
      if (input.is(':checkbox')) input.prop('checked', !!changes[key]);
      else input.val(changes[key]);
    });
  }

  /**
   * Registers one of our flow nodes with what they all share: the palette category and colour,
   * the palette label from its catalog (`<type>.label.paletteLabel`), `configVersion`, the
   * runtime picked when it is added, an older saved node migrated when its dialog opens, and,
   * with `preview: true`, the thumbnail setting (on by default).
   */
  function register(type, definition) {
    var own = definition.oneditprepare;
    var def = $.extend({}, definition, {
      category: 'age transform',
      color: '#E2D96E',
      paletteLabel: function () { return this._(type + '.label.paletteLabel'); },
      onadd: function () { added(this); },
      oneditprepare: function () {
        prepare(this);
        if (own) own.call(this);
      }
    });
    def.defaults = $.extend({}, definition.defaults, { configVersion: { value: 0 } });
    if (definition.preview) def.defaults.preview = { value: true };
    delete def.preview;
    RED.nodes.registerType(type, def);
  }

  // ---- thumbnails under nodes ----

  /** The comms topics: the runtime publishes thumbnails on PREVIEW/<node id>; editors say they show them on SHOWING. */
  var PREVIEW = 'age-transform/preview';
  var SHOWING = 'age-transform/previews';
  /** Space below the node for its status line, px; the thumbnail starts under it (the example layout test reserves the same). */
  var STATUS_GAP = 22;
  var SVG = 'http://www.w3.org/2000/svg';

  function previewId(id) { return 'age-transform-preview-' + id; }

  /** Draws (or, without an image, removes) the thumbnail under node `id` on the canvas. */
  function drawPreview(id, data) {
    var old = document.getElementById(previewId(id));
    if (old) old.parentNode.removeChild(old);
    var group = document.getElementById(id);
    var node = RED.nodes.node(id);
    if (!data || !data.image || !group || !node) return;
    var image = document.createElementNS(SVG, 'image');
    image.setAttribute('id', previewId(id));
    image.setAttribute('class', 'age-transform-preview');
    image.setAttribute('x', '0');
    image.setAttribute('y', String((node.h || 30) + STATUS_GAP));
    image.setAttribute('width', String(data.width));
    image.setAttribute('height', String(data.height));
    image.setAttribute('href', data.image);
    group.appendChild(image);
  }

  /** The last thumbnail of each node, so a redrawn or re-entered flow shows it again. */
  var previews = {};
  var listening = false;

  /** Subscribes this editor to the thumbnails, once; the runtime sends them only while an editor has said so. */
  function listen() {
    if (listening || typeof RED === 'undefined' || !RED.comms) return;
    listening = true;
    RED.comms.subscribe(PREVIEW + '/#', function (topic, data) {
      var id = topic.slice(PREVIEW.length + 1);
      if (data && data.image) previews[id] = data;
      else delete previews[id];
      drawPreview(id, data);
    });
    var hello = function () { RED.comms.send(SHOWING, { showing: true }); };
    RED.comms.on('connect', hello);
    hello();
    // Switching tabs redraws the canvas: put the thumbnails back on their nodes.
    RED.events.on('workspace:change', function () {
      setTimeout(function () { Object.keys(previews).forEach(function (id) { drawPreview(id, previews[id]); }); }, 0);
    });
  }

  if (typeof RED !== 'undefined' && RED.comms) listen();

  return {
    PACKAGE: PACKAGE,
    PREVIEW: PREVIEW,
    SHOWING: SHOWING,
    STATUS_GAP: STATUS_GAP,
    MIGRATIONS: MIGRATIONS,
    currentVersion: currentVersion,
    migrate: migrate,
    parseAges: parseAges,
    validate: validate,
    added: added,
    prepare: prepare,
    register: register
  };
});
