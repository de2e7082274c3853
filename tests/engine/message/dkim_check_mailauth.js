// tests/engine/message/dkim_check_mailauth.js DIR: verifies every DKIM signature
// of every DIR/*.eml with mailauth@4 (authenticate() with a resolver that
// serves DIR/dns.txt and answers ENOTFOUND for anything else). Prints one
// line per message like dkim_check.py: "<file> pass <n>" or
// "<file> fail <detail>". NODE_PATH must reach mailauth.
'use strict';
const fs = require('fs');
const path = require('path');
const { authenticate } = require('mailauth');

const dir = process.argv[2];
const records = {};
for (const line of fs.readFileSync(path.join(dir, 'dns.txt'), 'utf8').split('\n')) {
    if (!line) continue;
    const i = line.indexOf(' ');
    records[line.slice(0, i).toLowerCase()] = line.slice(i + 1);
}

const resolver = async (name, type) => {
    const txt = records[name.toLowerCase().replace(/\.$/, '')];
    if (type === 'TXT' && txt !== undefined) {
        const chunks = [];
        for (let i = 0; i < txt.length; i += 255) chunks.push(txt.slice(i, i + 255));
        return [chunks];
    }
    const err = new Error('not found: ' + name);
    err.code = 'ENOTFOUND';
    throw err;
};

(async () => {
    const files = fs.readdirSync(dir).filter(f => f.endsWith('.eml')).sort();
    for (const f of files) {
        const msg = fs.readFileSync(path.join(dir, f));
        const res = await authenticate(msg, {
            ip: '127.0.0.1',
            helo: 'localhost',
            sender: 'bounces@example.com',
            mta: 'test.local',
            resolver,
            disableArc: true,
            disableDmarc: true,
            disableBimi: true
        });
        const results = (res.dkim && res.dkim.results) || [];
        const bad = results.filter(r => !r.status || r.status.result !== 'pass');
        if (results.length === 0) console.log(`${f} fail no signature`);
        else if (bad.length)
            console.log(`${f} fail ${bad.map(r => (r.status && (r.status.result + ' ' + (r.status.comment || ''))) || 'none').join('; ')}`);
        else console.log(`${f} pass ${results.length}`);
    }
})().catch(e => {
    console.error(e);
    process.exit(2);
});
