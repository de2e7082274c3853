// tests/engine/smtp/submission_nodemailer.js PORT KEY: nodemailer (npm)
// as a submission client of edm: STARTTLS required, AUTH with `apikey`
// and the key, one message to alice@pf.test and bob@pf.test; then a wrong
// password, which must fail with 535. Prints "queued <id>" for the 250's
// id and "badauth <code>"; exits 1 on anything unexpected.
'use strict';
const nodemailer = require('nodemailer');
const [port, key] = process.argv.slice(2);

function transport(pass) {
    return nodemailer.createTransport({
        host: '127.0.0.1',
        port: Number(port),
        secure: false,
        requireTLS: true,
        auth: { user: 'apikey', pass },
        tls: { rejectUnauthorized: false },
    });
}

async function main() {
    const good = transport(key);
    const info = await good.sendMail({
        from: 'Shop <shop@example.com>',
        to: 'alice@pf.test, bob@pf.test',
        subject: 'nodemailer',
        text: 'Hello from nodemailer\n',
        html: '<p>Hello from <b>nodemailer</b></p>',
    });
    const m = /^250 2\.0\.0 Ok: queued as (\d+)$/.exec(info.response);
    if (!m || info.accepted.length !== 2) {
        console.log('unexpected: ' + JSON.stringify(info));
        process.exit(1);
    }
    console.log('queued ' + m[1]);
    good.close();
    try {
        await transport('wrong-' + key).sendMail({
            from: 'shop@example.com', to: 'alice@pf.test', subject: 'bad', text: 'no\n' });
        console.log('unexpected: a wrong password was accepted');
        process.exit(1);
    } catch (e) {
        console.log('badauth ' + e.responseCode);
    }
}

main().catch((e) => { console.log('error: ' + e.stack); process.exit(1); });
