// tufjs-writer.js OUT_DIR
// Write a small consistent-snapshot repository with @tufjs/models (an
// independent implementation of the metadata format and signing input) and
// node's own ed25519, for livepatch-repo client to verify:
//   OUT_DIR/metadata/{1.root.json,timestamp.json,1.snapshot.json,1.targets.json}
//   OUT_DIR/targets/<sha256>.hello.txt
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Key, Metadata, MetaFile, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } = require('@tufjs/models');
const canonicalize = require('@tufjs/canonical-json').canonicalize;

const out = process.argv[2];
fs.mkdirSync(path.join(out, 'metadata'), { recursive: true });
fs.mkdirSync(path.join(out, 'targets'), { recursive: true });
const expires = new Date(Date.now() + 7 * 86400 * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');

function newKey() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
  const json = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: raw } };
  const keyID = sha256(canonicalize(json));
  return {
    key: new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: raw } }),
    signer: (data) => new Signature({ keyID, sig: crypto.sign(null, data, privateKey).toString('hex') }),
  };
}

const roles = { root: newKey(), targets: newKey(), snapshot: newKey(), timestamp: newKey() };
const root = new Root({ version: 1, specVersion: '1.0.31', expires, consistentSnapshot: true });
for (const [name, k] of Object.entries(roles)) root.addKey(k.key, name);

const content = Buffer.from('hello from tuf-js\n');
const digest = sha256(content);
fs.writeFileSync(path.join(out, 'targets', `${digest}.hello.txt`), content);
const targets = new Targets({ version: 1, specVersion: '1.0.31', expires });
targets.addTarget(new TargetFile({
  path: 'hello.txt', length: content.length, hashes: { sha256: digest },
  unrecognizedFields: { custom: { name: 'hello', version: '1' } },
}));

function write(name, signed, signer) {
  const md = new Metadata(signed);
  md.sign(signer);
  const bytes = JSON.stringify(md.toJSON(), null, 2);
  fs.writeFileSync(path.join(out, 'metadata', name), bytes);
  return Buffer.from(bytes);
}
write('1.root.json', root, roles.root.signer);
const targetsBytes = write('1.targets.json', targets, roles.targets.signer);
const snapshot = new Snapshot({
  version: 1, specVersion: '1.0.31', expires,
  meta: { 'targets.json': new MetaFile({ version: 1, length: targetsBytes.length, hashes: { sha256: sha256(targetsBytes) } }) },
});
const snapshotBytes = write('1.snapshot.json', snapshot, roles.snapshot.signer);
const timestamp = new Timestamp({
  version: 1, specVersion: '1.0.31', expires,
  snapshotMeta: new MetaFile({ version: 1, length: snapshotBytes.length, hashes: { sha256: sha256(snapshotBytes) } }),
});
write('timestamp.json', timestamp, roles.timestamp.signer);
console.log('written', out);
