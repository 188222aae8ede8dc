// npm postinstall: let the pinned @aws-cdk/integ-runner read this app's cloud assembly.
//
// @aws-cdk/integ-runner 2.197.10, the newest published, bundles a toolkit that reads cloud-assembly
// schema 53 at most, while aws-cdk-lib 2.275.0 writes schema 55 (the aws-cdk 2.1148 CLI reads it). The
// runner then refuses every snapshot before comparing anything. This raises its limit by two major
// versions, in that one check and nowhere else; it fails loudly when the check is not found, so that
// upgrading the runner (to one that reads schema 55: then delete this file and the postinstall entry)
// cannot silently leave it unpatched or patched twice.
'use strict';
const fs = require('fs');
const path = require('path');

const bundle = path.join(
  __dirname, '..', '..', 'node_modules', '@aws-cdk', 'integ-runner', 'lib', 'workers', 'extract', 'index.js',
);
const original = 'if (maxSupported < semver.major(actual) && !options?.skipVersionCheck) {';
const patched = 'if (maxSupported + 2 < semver.major(actual) && !options?.skipVersionCheck) {';

const source = fs.readFileSync(bundle, 'utf8');
if (source.includes(patched)) {
  process.exit(0);
}
const count = source.split(original).length - 1;
if (count !== 1) {
  console.error(`${bundle}: expected the schema version check once, found it ${count} times`);
  process.exit(1);
}
fs.writeFileSync(bundle, source.replace(original, patched));
console.log('integ-runner: reads cloud assembly schema up to 55 (tests/integ/allow_cloud_assembly_schema.js)');
