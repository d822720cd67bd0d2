// The browser tests' hub: a throwaway partnership (refex-ca), refexd with its HTTPS door on free
// loopback ports, and the JSON API called as a partner would (Node https with the holder's
// certificate). Shared by every check in tests/browser; extend it here, not in a check.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

export const SOURCE_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

// The agencies: A refers, B receives (as in NET_DEFAULT_AGENCIES); C receives too, for a
// check that needs an inbox no other check writes to.
export const AGENCY_A = 'north-advice';
export const AGENCY_B = 'eastside-housing';
export const AGENCY_C = 'westside-housing';

const FORMS = ['debt_advice', 'food_support', 'housing_support'];
const START_TIMEOUT_MS = 30000; // a loaded 2-core machine

const AGENCIES_CONF = `[agency ${AGENCY_A}]
name = North Advice Centre
accepts = food_support, debt_advice

[agency ${AGENCY_B}]
name = Eastside Housing Trust
accepts = housing_support

[agency ${AGENCY_C}]
name = Westside Housing Association
accepts = housing_support
`;

// The programs of a build directory; throws naming the one that is missing.
export function programs(buildDir) {
  const p = {
    refexd: path.join(buildDir, 'daemon', 'refexd'),
    refexCa: path.join(buildDir, 'certs', 'refex-ca'),
    refex: path.join(buildDir, 'client', 'refex'),
  };
  for (const [name, file] of Object.entries(p)) {
    if (!fs.existsSync(file)) {
      throw new Error(`${name} is not built: ${file} is missing`);
    }
  }
  return p;
}

// A running hub: its directory, CA, web origin, and the holders issued so far.
export class Hub {
  constructor(buildDir) {
    this.bin = programs(buildDir);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refex-browser-'));
    this.caDir = path.join(this.dir, 'ca');
    this.ca = path.join(this.caDir, 'ca.crt');
    this.holders = new Map();
    this.proc = null;
    this.log = '';
  }

  // Run refex-ca with args; throws with what it said when it fails.
  refexCa(...args) {
    return execFileSync(this.bin.refexCa, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  // Make the network's CA and the hub's certificate and configuration.
  init() {
    this.refexCa('init', '--dir', this.caDir, '--name', 'Browser Test Network');
    this.refexCa('server', '--dir', this.caDir, '--host', '127.0.0.1,localhost', '--out',
      path.join(this.dir, 'server'));
    fs.mkdirSync(path.join(this.dir, 'forms'));
    for (const f of FORMS) {
      fs.copyFileSync(path.join(SOURCE_DIR, 'proto', 'forms', `${f}.proto`),
        path.join(this.dir, 'forms', `${f}.proto`));
    }
    fs.writeFileSync(path.join(this.dir, 'refexd.conf'), `[server]
listen = 127.0.0.1:0
certificate = server.crt
key = server.key
ca = ca/ca.crt
crl = ca/crl.pem
database = refex.db
log_level = info

${AGENCIES_CONF}
[web]
listen = 127.0.0.1:0
`);
    return this;
  }

  // Issue a partner certificate; returns the holder ({agency, holder, cert, key}).
  issue(agency, holder) {
    const prefix = path.join(this.dir, `${agency}-${this.holders.size}`);
    this.refexCa('issue', '--dir', this.caDir, '--agency', agency, '--holder', holder, '--out', prefix);
    const h = { agency, holder, cert: `${prefix}.crt`, key: `${prefix}.key` };
    this.holders.set(`${agency}/${holder}`, h);
    return h;
  }

  // Revoke a holder's certificate and publish the CRL (read by refexd at start and on SIGHUP).
  revoke(h) {
    this.refexCa('revoke', '--dir', this.caDir, '--agency', h.agency, '--holder', h.holder,
      '--reason', 'left the agency');
  }

  // Start refexd and wait for its ready line; sets this.origin (the HTTPS door).
  async start() {
    this.proc = spawn(this.bin.refexd, ['--config', path.join(this.dir, 'refexd.conf')],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    // A run that dies mid-way (an uncaught error) must not leave its refexd or files behind.
    process.once('exit', () => {
      if (this.proc.exitCode === null && this.proc.signalCode === null) {
        this.proc.kill('SIGKILL');
      }
      fs.rmSync(this.dir, { recursive: true, force: true });
    });
    const ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `refexd did not log msg=started within ${START_TIMEOUT_MS} ms:\n${this.log}`)), START_TIMEOUT_MS);
      const onData = (chunk) => {
        this.log += chunk;
        const port = /msg=web-listening.* port=(\d+)/.exec(this.log);
        if (port && /msg=started/.test(this.log)) {
          clearTimeout(timer);
          resolve(Number(port[1]));
        }
      };
      this.proc.stdout.setEncoding('utf8').on('data', onData);
      this.proc.stderr.setEncoding('utf8').on('data', onData);
      this.proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`refexd exited (${code}) before it was ready:\n${this.log}`));
      });
    });
    this.port = await ready;
    this.origin = `https://127.0.0.1:${this.port}`;
    return this;
  }

  // Stop refexd (SIGTERM) and remove the directory; keepLogIn: a directory to copy its log to.
  // Throws, printing the log (a sanitizer's report among it), unless refexd stopped cleanly.
  async stop(keepLogIn) {
    let code = 0;
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = once(this.proc, 'exit');
      this.proc.kill('SIGTERM');
      [code] = await exited;
    }
    if (keepLogIn) {
      fs.mkdirSync(keepLogIn, { recursive: true });
      fs.writeFileSync(path.join(keepLogIn, 'refexd.log'), this.log);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (code !== 0 || /ERROR: (Address|Leak)Sanitizer|runtime error:/.test(this.log)) {
      console.log(this.log);
      throw new Error(`refexd did not stop cleanly on SIGTERM (exit ${code}); its log is above`);
    }
  }

  // The Playwright clientCertificates entry presenting h's certificate to this hub.
  clientCertificate(h) {
    return { origin: this.origin, certPath: h.cert, keyPath: h.key };
  }

  // POST body to /api/v1/op as holder h; resolves {status, json}.
  api(h, op, body, headers = {}) {
    const text = JSON.stringify(body || {});
    return new Promise((resolve, reject) => {
      const req = https.request(`${this.origin}/api/v1/${op}`, {
        method: 'POST',
        ca: fs.readFileSync(this.ca),
        cert: fs.readFileSync(h.cert),
        key: fs.readFileSync(h.key),
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers },
      }, (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (c) => { data += c; });
        res.on('end', () => {
          let json = null;
          try { json = JSON.parse(data); } catch { /* not JSON: status tells */ }
          resolve({ status: res.statusCode, json, text: data });
        });
      });
      req.on('error', reject);
      req.end(text);
    });
  }

  // Like api, but throws unless the hub answered 200; resolves the JSON.
  async ok(h, op, body) {
    const r = await this.api(h, op, body);
    if (r.status !== 200) {
      throw new Error(`${op} as ${h.agency} answered ${r.status}: ${r.text}`);
    }
    return r.json;
  }

  // Submit a housing referral from holder `from` (to agency B unless `to` says); resolves its id.
  async submit(from, { to = AGENCY_B, givenName = 'Amira', familyName = 'Khan', answers = {} } = {}) {
    const ref = await this.ok(from, 'submit', {
      to,
      form: 'housing_support',
      client: { givenName, familyName },
      consent: { toAgency: to, purpose: 'housing support referral', method: 'CONSENT_VERBAL' },
      formData: { currentSituation: 'SOFA_SURFING', tenure: 'NO_FIXED_ABODE', ...answers },
    });
    if (!ref || !ref.id) {
      throw new Error(`submit answered no id: ${JSON.stringify(ref)}`);
    }
    return ref.id;
  }

  // The referral id as holder h sees it (the get operation).
  get(h, id) {
    return this.ok(h, 'get', { id });
  }
}

// Make a hub with agencies A, B and C, a holder at each, and a revoked holder at B; start it.
export async function startHub(buildDir) {
  const hub = new Hub(buildDir).init();
  hub.a = hub.issue(AGENCY_A, 'Priya Shah');
  hub.b = hub.issue(AGENCY_B, 'Sam Jones');
  hub.c = hub.issue(AGENCY_C, 'Kai Moreno');
  hub.revoked = hub.issue(AGENCY_B, 'Former Staff');
  hub.revoke(hub.revoked);
  try {
    return await hub.start();
  } catch (e) {
    await hub.stop();
    throw e;
  }
}
