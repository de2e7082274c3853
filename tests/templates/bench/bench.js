// tests/templates/bench/bench.js: the handlebars.js side of
// scripts/bench-templates, and the recipient data generator.
//   node bench.js gen N DATA.ndjson            writes N distinct recipients
//   node bench.js run TEMPLATE.json DATA.ndjson OUTDIR   prints renders/s
// Subject and text compile with noEscape (edm: header mode, no escaping),
// html with Handlebars' default HTML escaping.
'use strict';
const fs = require('fs');
const path = require('path');
const [, , cmd, a, b, c] = process.argv;

if (cmd === 'gen') {
  const n = parseInt(a, 10), out = [];
  const cities = ['Lyon', 'Porto', 'Austin', 'Kyoto', 'Oslo', 'Cork'];
  for (let i = 0; i < n; i++) {
    const items = [];
    for (let k = 0; k < 3; k++) {
      const id = (i * 7 + k * 13) % 997;
      items.push({
        name: `Item #${id} "Classic" & co`,
        description: `Hand-made <limited> edition ${id}, ships in ${1 + (id % 5)} days.`,
        price: `$${(10 + (id % 90)).toFixed(2)}`,
        url: `https://shop.example.com/p/${id}?r=${i}`,
        image: `https://cdn.example.com/img/${id}.jpg`,
      });
    }
    out.push(JSON.stringify({
      first_name: `Customer${i}`,
      city: cities[i % cities.length],
      offer_code: `SAVE${(i * 31) % 10000}`,
      expires: `2026-12-${String(1 + (i % 28)).padStart(2, '0')}`,
      company: 'Example Shop',
      unsubscribe_url: `https://shop.example.com/u/${i.toString(36)}?t=${(i * 2654435761) >>> 0}`,
      vip: i % 4 === 0,
      items,
    }));
  }
  fs.writeFileSync(b, out.join('\n') + '\n');
} else if (cmd === 'run') {
  const H = require('handlebars');
  const t = JSON.parse(fs.readFileSync(a, 'utf8'));
  for (const [name, src] of Object.entries(t.partials || {})) H.registerPartial(name, src);
  const subject = H.compile(t.subject, { noEscape: true });
  const html = H.compile(t.html);
  const text = H.compile(t.text, { noEscape: true });
  const recips = fs.readFileSync(b, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));
  let bytes = 0;
  for (let pass = 0; pass < 2; pass++) {
    const t0 = process.hrtime.bigint();
    bytes = 0;
    for (let i = 0; i < recips.length; i++) {
      const r = recips[i];
      const m = { subject: subject(r), html: html(r), text: text(r) };
      bytes += m.subject.length + m.html.length + m.text.length;
      if (pass === 1 && i < 3) fs.writeFileSync(path.join(c, `hbs-${i}.json`), JSON.stringify(m));
    }
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (pass === 1)
      console.log(`handlebars.js renders/s: ${(recips.length / dt).toFixed(0)} ` +
        `(${recips.length} recipients in ${dt.toFixed(3)} s, ${(bytes / recips.length).toFixed(0)} chars/message)`);
  }
} else {
  console.error('usage: bench.js gen N OUT | run TEMPLATE DATA OUTDIR');
  process.exit(2);
}
