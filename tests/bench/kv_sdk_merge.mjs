// The same merges airlock-kv does, done by Microsoft's JavaScript SDK
// (@azure/keyvault-certificates from tests/kv-emulator/node_modules), for
// docs/performance.md. Env: KVEMU_URL, KVEMU_TENANT, NODE_EXTRA_CA_CERTS.
//
//   node kv_sdk_merge.mjs create PREFIX COUNT DOMAIN     pending certificates PREFIX-0..N-1
//   node kv_sdk_merge.mjs merge MERGE-BUNDLE-DIR PREFIX CONCURRENCY
//
// merge: every entry of the station's merge bundle whose certificate_name
// starts with PREFIX is merged (leaf + intermediate, as airlock-kv sends
// them) with CONCURRENCY requests in flight. Prints one line:
//   "merged N failed F seconds T rate R concurrency C".
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "../kv-emulator/package.json"));
const { CertificateClient } = require("@azure/keyvault-certificates");
const { ClientSecretCredential } = require("@azure/identity");

const url = process.env.KVEMU_URL;
const tenant = process.env.KVEMU_TENANT || "72f988bf-86f1-41af-91ab-2d7cd011db47";
const credential = new ClientSecretCredential(tenant, "00000000-0000-0000-0000-0000000be7c4", "bench-secret", {
  authorityHost: url,
  disableInstanceDiscovery: true,
});
const client = new CertificateClient(url, credential, {
  disableChallengeResourceVerification: true,
  retryOptions: { maxRetries: 8, retryDelayInMs: 200, maxRetryDelayInMs: 3000 },
});

async function pool(items, conc, fn) {
  let next = 0, failed = 0;
  const errs = [];
  async function worker() {
    while (next < items.length) {
      const it = items[next++];
      try { await fn(it); } catch (e) { failed++; if (errs.length < 3) errs.push(String(e && e.message || e)); }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, conc) }, worker));
  for (const e of errs) console.error("# " + e.split("\n")[0]);
  return failed;
}

function pemBlocks(pem) {
  return [...pem.toString().matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g)]
    .map((m) => new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64")));
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "create") {
  const [prefix, count, domain] = args;
  const names = Array.from({ length: Number(count) }, (_, i) => `${prefix}-${i}`);
  const failed = await pool(names, 8, async (name) => {
    await client.beginCreateCertificate(name, {
      issuerName: "Unknown",
      subject: `CN=${name}.${domain}`,
      subjectAlternativeNames: { dnsNames: [`${name}.${domain}`] },
      keyType: "EC", keyCurveName: "P-256", exportable: false,
      enhancedKeyUsage: ["1.3.6.1.5.5.7.3.1"], keyUsage: ["digitalSignature"],
      validityInMonths: 12,
    });
  });
  console.log(`created ${names.length - failed} failed ${failed}`);
  process.exit(failed ? 1 : 0);
} else if (mode === "merge") {
  const [dir, prefix, conc] = args;
  const man = JSON.parse(readFileSync(join(dir, "manifest.json")));
  const items = man.entries
    .filter((e) => (e.source.certificate_name || "").startsWith(prefix + "-"))
    .map((e) => ({ name: e.source.certificate_name, chain: pemBlocks(readFileSync(join(dir, e.file))) }));
  // one token before the clock starts, as airlock-kv's own token fetch is
  // part of its run but tiny next to the merges
  await credential.getToken("https://vault.azure.net/.default");
  const t0 = process.hrtime.bigint();
  const failed = await pool(items, Number(conc), async (it) => {
    await client.mergeCertificate(it.name, it.chain);
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`merged ${items.length - failed} failed ${failed} seconds ${s.toFixed(3)} rate ${((items.length - failed) / s).toFixed(1)} concurrency ${conc}`);
  process.exit(failed ? 1 : 0);
} else {
  console.error("usage: kv_sdk_merge.mjs create PREFIX COUNT DOMAIN | merge DIR PREFIX CONCURRENCY");
  process.exit(2);
}
