// tufjs-client.js MIRROR_DIR ROOT_JSON WORK_DIR TARGET_PATH
// Run tuf-js's Updater (an independent TUF client) against a repository
// directory written by livepatch-repo, offline: the fetcher reads files.
// Prints the target's signed custom field as JSON and checks the download.
'use strict';
const fs = require('fs');
const path = require('path');
const { Updater } = require('tuf-js');
const { DownloadHTTPError, DownloadLengthMismatchError } = require(path.join(path.dirname(require.resolve('tuf-js')), 'error.js'));

const [mirror, rootFile, work, targetPath] = process.argv.slice(2);
const base = 'https://mirror.invalid/';  // never contacted

class DirectoryFetcher {
  local(url) {
    if (!url.startsWith(base)) throw new Error(`unexpected URL ${url}`);
    return path.join(mirror, decodeURIComponent(url.slice(base.length)));
  }
  async downloadBytes(url, maxLength) {
    const file = this.local(url);
    if (!fs.existsSync(file)) throw new DownloadHTTPError(`${url} not found`, 404);
    if (fs.statSync(file).size > maxLength) throw new DownloadLengthMismatchError(`${url} is over ${maxLength} bytes`);
    return fs.readFileSync(file);
  }
  async downloadFile(url, maxLength, handler) {
    const tmp = path.join(work, `download-${process.pid}.tmp`);
    fs.writeFileSync(tmp, await this.downloadBytes(url, maxLength));
    try {
      return await handler(tmp);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
}

async function main() {
  const metadataDir = path.join(work, 'metadata');
  const targetDir = path.join(work, 'targets');
  fs.mkdirSync(metadataDir, { recursive: true });
  fs.mkdirSync(targetDir, { recursive: true });
  fs.copyFileSync(rootFile, path.join(metadataDir, 'root.json'));
  const updater = new Updater({
    metadataDir,
    metadataBaseUrl: base + 'metadata',
    targetDir,
    targetBaseUrl: base + 'targets',
    fetcher: new DirectoryFetcher(),
  });
  await updater.refresh();
  const info = await updater.getTargetInfo(targetPath);
  if (!info) throw new Error(`tuf-js found no target ${targetPath}`);
  const file = await updater.downloadTarget(info, path.join(targetDir, 'download'));
  console.log(JSON.stringify({ path: info.path, length: info.length, custom: info.custom, file }));
}

main().catch((e) => {
  console.error(`tuf-js: ${e.constructor.name}: ${e.message}`);
  process.exit(1);
});
