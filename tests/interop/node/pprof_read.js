#!/usr/bin/env node
// Reads a pprof profile (perftools.profiles.Profile, gzip or not) with pprof-format, an
// implementation independent of the one that wrote it, and prints what tests/opi.rs checks:
// sample types with their units, the number of samples, the total of each value column, and
// the function names the samples' stacks hold.
//
// Usage: node pprof_read.js PROFILE
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const { Profile } = require('pprof-format');

let buf = fs.readFileSync(process.argv[2]);
if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
const p = Profile.decode(buf);
const str = (i) => p.stringTable.strings[Number(i)];
const functions = new Map(p.function.map((f) => [String(f.id), str(f.name)]));
const names = new Set();
for (const loc of p.location) {
  for (const line of loc.line) names.add(functions.get(String(line.functionId)));
}
const totals = p.sampleType.map((_, i) => p.sample.reduce((a, s) => a + Number(s.value[i]), 0));
console.log(JSON.stringify({
  sampleTypes: p.sampleType.map((t) => [str(t.type), str(t.unit)]),
  periodType: p.periodType ? [str(p.periodType.type), str(p.periodType.unit)] : null,
  period: Number(p.period),
  samples: p.sample.length,
  totals,
  functions: [...names].filter(Boolean),
}));
