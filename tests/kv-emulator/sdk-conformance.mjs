// Conformance test: drive the Key Vault emulator with Microsoft's official JavaScript SDK.
// Env: KVEMU_URL (https://127.0.0.1:PORT), KVEMU_TENANT, NODE_EXTRA_CA_CERTS (emulator ca.pem).
// Prints TAP-like lines "ok - sdk: ..." / "not ok - sdk: ..."; exits 1 if any failed.
import { CertificateClient } from "@azure/keyvault-certificates";
import { ClientSecretCredential, ManagedIdentityCredential } from "@azure/identity";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import crypto from "node:crypto";

const url = process.env.KVEMU_URL;
const tenant = process.env.KVEMU_TENANT || "72f988bf-86f1-41af-91ab-2d7cd011db47";
if (!url) {
  console.log("not ok - sdk: KVEMU_URL not set");
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), "kvemu-sdk-"));
let failed = 0;
const done = new Set();

async function step(name, deps, fn) {
  for (const d of deps) {
    if (!done.has(d)) {
      console.log(`not ok - sdk: ${name}\n# skipped because '${d}' failed`);
      failed++;
      return;
    }
  }
  const t0 = Date.now();
  try {
    const timeout = new Promise((_, rej) => setTimeout(() => rej(new Error("step timed out after 60s")), 60000).unref());
    await Promise.race([fn(), timeout]);
    done.add(name);
    console.log(`ok - sdk: ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`not ok - sdk: ${name}`);
    for (const l of String(e && e.stack ? e.stack : e).split("\n").slice(0, 12)) console.log(`# ${l}`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error("assertion failed: " + msg);
}

async function control(path, method = "GET", body) {
  const res = await fetch(url + path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.json();
}

function sh(cmd, args, input) {
  return execFileSync(cmd, args, { cwd: work, input, stdio: ["pipe", "pipe", "pipe"] });
}

function derToPem(der, label) {
  const b = Buffer.from(der).toString("base64").match(/.{1,64}/g).join("\n");
  return `-----BEGIN ${label}-----\n${b}\n-----END ${label}-----\n`;
}

function pemToDer(pem) {
  const b = pem.toString().replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return new Uint8Array(Buffer.from(b, "base64"));
}

// A test CA made with the openssl CLI.
function makeCa() {
  sh("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=SDK conformance test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  return pemToDer(readFileSync(join(work, "ca.pem")));
}

let serial = 1;
function signCsr(csrDer, days = 20) {
  writeFileSync(join(work, "req.pem"), derToPem(csrDer, "CERTIFICATE REQUEST"));
  sh("openssl", ["req", "-in", "req.pem", "-noout", "-verify"]);
  sh("openssl", ["x509", "-req", "-in", "req.pem", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial",
    String(1000 + serial++), "-days", String(days), "-copy_extensions", "copy", "-out", "leaf.pem"]);
  return pemToDer(readFileSync(join(work, "leaf.pem")));
}

const credential = new ClientSecretCredential(tenant, "00000000-0000-0000-0000-0000000c11e7", "not-a-real-secret", {
  authorityHost: url,
  disableInstanceDiscovery: true,
});
const client = new CertificateClient(url, credential, {
  disableChallengeResourceVerification: true,
  retryOptions: { maxRetries: 4, retryDelayInMs: 200, maxRetryDelayInMs: 3000 },
});

const NAME = "sdk-unknown-" + crypto.randomBytes(3).toString("hex");
const policy = {
  issuerName: "Unknown",
  subject: "CN=sdk.example.test, O=airlock tests",
  subjectAlternativeNames: { dnsNames: ["sdk.example.test", "alt.example.test"] },
  keyType: "RSA",
  keySize: 2048,
  exportable: false,
  contentType: "application/x-pem-file",
  validityInMonths: 6,
  keyUsage: ["digitalSignature", "keyEncipherment"],
  enhancedKeyUsage: ["1.3.6.1.5.5.7.3.1"],
};
let caDer, csr, leafDer, mergedVersion;

await step("ClientSecretCredential gets a token from the emulator's Entra ID endpoint", [], async () => {
  const before = (await control("/_emulator/stats")).tokens_issued;
  const tok = await credential.getToken("https://vault.azure.net/.default");
  assert(tok && tok.token && tok.token.length > 20, "token returned");
  const after = (await control("/_emulator/stats")).tokens_issued;
  assert(after === before + 1, `emulator issued the token (${before} -> ${after})`);
});

await step("beginCreateCertificate with issuer Unknown returns an inProgress operation", [], async () => {
  const poller = await client.beginCreateCertificate(NAME, policy, { intervalInMs: 200 });
  const state = poller.getOperationState();
  assert(state.isStarted && !state.isCompleted, "started, not completed");
  assert(state.result && state.result.name === NAME && !state.result.cer, "result names the certificate, without cer");
  poller.stopPolling && poller.stopPolling();
});

await step("getCertificateOperation returns a real CSR carrying the policy", ["beginCreateCertificate with issuer Unknown returns an inProgress operation"], async () => {
  const opPoller = await client.getCertificateOperation(NAME);
  const op = opPoller.getOperationState().certificateOperation;
  assert(op.status === "inProgress", "status inProgress");
  assert(op.requestId && /^[0-9a-f]{32}$/.test(op.requestId), "request_id is 32 hex: " + op.requestId);
  csr = op.csr;
  writeFileSync(join(work, "check.pem"), derToPem(csr, "CERTIFICATE REQUEST"));
  const text = sh("openssl", ["req", "-in", "check.pem", "-noout", "-verify", "-text"]).toString();
  assert(/Subject: O ?= ?airlock tests, CN ?= ?sdk.example.test/.test(text), "subject in CSR: " + text.match(/Subject:.*/));
  assert(/Key Usage: critical\s+Digital Signature, Key Encipherment/.test(text), "KU critical");
  assert(/Extended Key Usage:\s+TLS Web Server Authentication\s*\n/.test(text), "EKU serverAuth only");
  assert(/DNS:sdk.example.test, DNS:alt.example.test/.test(text), "SANs");
  assert(/CA:FALSE/.test(text), "basicConstraints CA:FALSE");
  assert(/Public-Key: \(2048 bit\)/.test(text), "RSA 2048");
});

await step("mergeCertificate with a chain signed by a test CA returns the new version", ["getCertificateOperation returns a real CSR carrying the policy"], async () => {
  caDer = makeCa();
  leafDer = signCsr(csr);
  const cert = await client.mergeCertificate(NAME, [leafDer, caDer]);
  assert(Buffer.from(cert.cer).equals(Buffer.from(leafDer)), "cer equals the signed leaf");
  const x5t = crypto.createHash("sha1").update(leafDer).digest("base64url");
  assert(Buffer.from(cert.properties.x509Thumbprint).toString("base64url") === x5t, "x5t = SHA-1(cer)");
  assert(/^[0-9a-f]{32}$/.test(cert.properties.version), "version is 32 hex");
  mergedVersion = cert.properties.version;
  const leaf = new crypto.X509Certificate(Buffer.from(leafDer));
  assert(Math.abs(cert.properties.expiresOn.getTime() - new Date(leaf.validTo).getTime()) < 1000, "exp from leaf");
  assert(Math.abs(cert.properties.notBefore.getTime() - new Date(leaf.validFrom).getTime()) < 1000, "nbf from leaf");
  const st = await control("/_emulator/stats");
  assert(st.merges[NAME] === 1, "exactly one merge applied");
});

await step("getCertificate and getCertificateVersion return the merged certificate", ["mergeCertificate with a chain signed by a test CA returns the new version"], async () => {
  const c = await client.getCertificate(NAME);
  assert(Buffer.from(c.cer).equals(Buffer.from(leafDer)), "cer");
  assert(c.properties.enabled === true, "enabled");
  assert(c.policy.issuerName === "Unknown", "policy issuer");
  assert(c.policy.exportable === false, "policy exportable false kept");
  assert(c.policy.contentType === "application/x-pem-file", "content type");
  const v = await client.getCertificateVersion(NAME, mergedVersion);
  assert(v.properties.version === mergedVersion, "version");
  const op = (await client.getCertificateOperation(NAME)).getOperationState().certificateOperation;
  assert(op.status === "completed" && op.target && op.target.endsWith("/certificates/" + NAME), "pending completed with target");
});

await step("merge with a leaf for another key fails with 400 BadParameter", ["mergeCertificate with a chain signed by a test CA returns the new version"], async () => {
  const other = NAME + "-other";
  await client.beginCreateCertificate(other, { issuerName: "Unknown", subject: "CN=other" });
  let err;
  try {
    await client.mergeCertificate(other, [leafDer, caDer]);
  } catch (e) {
    err = e;
  }
  assert(err, "merge must fail");
  assert(err.statusCode === 400 && err.code === "BadParameter", `got ${err.statusCode} ${err.code}`);
  assert(/does not match the public part/.test(err.message), "service message: " + err.message);
});

await step("deleteCertificateOperation removes a pending operation (then 404 PendingCertificateNotFound)", ["merge with a leaf for another key fails with 400 BadParameter"], async () => {
  const other = NAME + "-other";
  const op = await client.deleteCertificateOperation(other);
  assert(op.status === "inProgress", "returned operation");
  let err;
  try {
    await client.getCertificateOperation(other);
  } catch (e) {
    err = e;
  }
  // the SDK reads the certificate first: a certificate that only had this pending version is gone too
  assert(err && err.statusCode === 404 && /^(PendingCertificateNotFound|CertificateNotFound)$/.test(err.code), `got ${err && err.statusCode} ${err && err.code}`);
});

await step("cancelCertificateOperation sets cancellation_requested", [], async () => {
  const n = NAME + "-cancel";
  await client.beginCreateCertificate(n, { issuerName: "Unknown", subject: "CN=cancel" });
  const p = await client.getCertificateOperation(n);
  await p.cancelOperation();
  const op = (await client.getCertificateOperation(n)).getOperationState().certificateOperation;
  assert(op.cancellationRequested === true, "cancellation requested");
  await client.deleteCertificateOperation(n);
});

await step("listPropertiesOfCertificates follows nextLink/$skiptoken pages, including empty pages", [], async () => {
  const names = [];
  for (let i = 0; i < 5; i++) {
    const n = `${NAME}-list${i}`;
    names.push(n);
    await client.beginCreateCertificate(n, { issuerName: "Unknown", subject: "CN=list" + i });
  }
  // SDK 4.10 (api-version 7.6) no longer sends maxresults for maxPageSize, so the emulator's
  // own page size is lowered, as the service's page size is its own choice.
  await control("/_emulator/config", "POST", { empty_pages: 1, page_size: 2 });
  await control("/_emulator/requests", "DELETE");
  const seen = [];
  let pages = 0, empty = 0;
  try {
    for await (const page of client.listPropertiesOfCertificates({ includePending: true }).byPage({ maxPageSize: 2 })) {
      pages++;
      if (page.length === 0) empty++;
      assert(page.length <= 2, "page size <= 2");
      for (const p of page) seen.push(p.name);
    }
  } finally {
    await control("/_emulator/config", "POST", { empty_pages: 0, page_size: 25 });
  }
  for (const n of names) assert(seen.includes(n), "listed " + n);
  assert(new Set(seen).size === seen.length, "no duplicates");
  assert(pages >= 4 && empty >= 1, `several pages (${pages}) and empty pages (${empty})`);
  const reqs = (await control("/_emulator/requests")).requests.filter((r) => r.path === "/certificates");
  assert(reqs.slice(1).every((r) => r.query.$skiptoken), "nextLink followed with $skiptoken");
  // without includePending, certificates that only have a pending version are not listed
  const plain = [];
  for await (const p of client.listPropertiesOfCertificates()) plain.push(p.name);
  assert(!plain.includes(names[0]), "includePending=false hides pending-only certificates");
  for (const n of names) await client.deleteCertificateOperation(n);
});

await step("renewal: create again gives a disabled pending latest version; versions list keeps the old one", ["getCertificate and getCertificateVersion return the merged certificate"], async () => {
  await client.beginCreateCertificate(NAME, policy);
  const latest = await client.getCertificate(NAME);
  assert(latest.properties.enabled === false && !latest.cer, "latest is the disabled pending version without cer");
  assert(latest.properties.version !== mergedVersion, "new version id");
  const versions = [];
  for await (const p of client.listPropertiesOfCertificateVersions(NAME)) versions.push(p);
  assert(versions.length === 2, "two versions");
  const withCer = versions.filter((v) => v.x509Thumbprint);
  assert(withCer.length === 1 && withCer[0].version === mergedVersion, "old version keeps x5t");
  let err;
  try {
    await client.beginCreateCertificate(NAME, policy);
  } catch (e) {
    err = e;
  }
  assert(err && err.statusCode === 409 && err.code === "Conflict", "second create while pending: 409 Conflict");
  const op = (await client.getCertificateOperation(NAME)).getOperationState().certificateOperation;
  const leaf2 = signCsr(op.csr);
  const merged = await client.mergeCertificate(NAME, [leaf2, caDer]);
  assert(merged.properties.enabled && merged.properties.version === latest.properties.version, "renewal merged");
});

await step("getCertificatePolicy and updateCertificatePolicy", ["getCertificate and getCertificateVersion return the merged certificate"], async () => {
  const p = await client.getCertificatePolicy(NAME);
  assert(p.subject === policy.subject && p.validityInMonths === 6, "policy read back");
  await client.updateCertificatePolicy(NAME, { ...p, validityInMonths: 3 });
  // SDK 4.10.0's updateCertificatePolicy returns {} (its parsedBody is never set), so read back
  const u = await client.getCertificatePolicy(NAME);
  assert(u.validityInMonths === 3 && u.subject === policy.subject, "policy updated: " + JSON.stringify(u));
});

await step("SDK retries 429 Throttled (Retry-After) and 503 (retry-after-ms) from the emulator", ["getCertificate and getCertificateVersion return the merged certificate"], async () => {
  await control("/_emulator/faults", "POST", { faults: [
    { method: "GET", path: `^/certificates/${NAME}/?$`, action: "throttle", retry_after: 1, count: 1 },
    { method: "GET", path: `^/certificates/${NAME}/?$`, action: "error", status: 503, retry_after_ms: 300, count: 1 },
  ] });
  await control("/_emulator/requests", "DELETE");
  const t0 = Date.now();
  const c = await client.getCertificate(NAME);
  assert(c.cer, "eventually succeeded");
  const statuses = (await control("/_emulator/requests")).requests.map((r) => r.status);
  assert(JSON.stringify(statuses) === JSON.stringify([429, 503, 200]), "statuses " + JSON.stringify(statuses));
  assert(Date.now() - t0 >= 1000, "honoured Retry-After: 1");
});

await step("ManagedIdentityCredential gets a token from the emulator's IMDS-shaped endpoint", [], async () => {
  process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = url;
  const mi = new ManagedIdentityCredential();
  const tok = await mi.getToken("https://vault.azure.net/.default");
  assert(tok && tok.token, "token");
  const c2 = new CertificateClient(url, mi, { disableChallengeResourceVerification: true });
  const c = await c2.getCertificate(NAME);
  assert(c.name === NAME, "certificate read with the IMDS token");
});

rmSync(work, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
